/** The shipped vec4 matmuls are exactly the generator's output (no hand-pasted copies). */
import { assertEquals } from "../_assert.ts";
import { ROOT } from "../_fixtures.ts";
import { shippedMatmulKernels } from "../../bench/matmul_variants/shipped_kernels.ts";

Deno.test("kernels/matmul_xw.wgsl and matmul_xwt.wgsl equal the generator's output", async () => {
  for (const [name, code] of Object.entries(shippedMatmulKernels())) {
    const shipped = await Deno.readTextFile(`${ROOT}kernels/${name}`);
    assertEquals(shipped, code, `kernels/${name} differs: run deno task kernels`);
  }
});
