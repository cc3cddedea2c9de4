/** The shipped generated kernels are exactly the generators' output (no hand-pasted copies). */
import { assertEquals } from "../_assert.ts";
import { ROOT } from "../_fixtures.ts";
import { shippedKernels } from "../../src/gpu/kernel_gen/shipped_kernels.ts";
import { SUBGROUP_KERNELS } from "../../src/gpu/mod.ts";

Deno.test("the generated kernels (matmuls of both sets, subgroup variants) equal the generators' output", async () => {
  const generated = await shippedKernels();
  for (const name of SUBGROUP_KERNELS) {
    assertEquals(typeof generated[`${name}_subgroups.wgsl`], "string", `${name}_subgroups.wgsl`);
  }
  for (const [name, code] of Object.entries(generated)) {
    const shipped = await Deno.readTextFile(`${ROOT}kernels/${name}`);
    assertEquals(shipped, code, `kernels/${name} differs: run deno task kernels`);
  }
});
