/** The shipped vec4 matmuls are exactly the generator's output (no hand-pasted copies). */
import { assertEquals } from "../_assert.ts";
import { ROOT } from "../_fixtures.ts";
import { shippedMatmulKernels } from "../../bench/matmul_variants/shipped_kernels.ts";

Deno.test("the generated kernels/matmul_*.wgsl (software and hardware sets) equal the generators' output", async () => {
  for (const [name, code] of Object.entries(shippedMatmulKernels())) {
    const shipped = await Deno.readTextFile(`${ROOT}kernels/${name}`);
    assertEquals(shipped, code, `kernels/${name} differs: run deno task kernels`);
  }
});
