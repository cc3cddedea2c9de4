/** The shipped generated kernels are exactly the generators' output (no hand-pasted copies). */
import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { ROOT } from "../_fixtures.ts";
import { shippedKernels } from "../../src/gpu/kernel_gen/shipped_kernels.ts";
import {
  SHARED_BLOCKS,
  sharedBlock,
  sharedBlockCopies,
} from "../../src/gpu/kernel_gen/shared_blocks.ts";
import { SUBGROUP_KERNELS } from "../../src/gpu/mod.ts";

Deno.test("the generated kernels (matmuls of both sets, subgroup variants, shared-block copies) equal the generators' output", async () => {
  const generated = await shippedKernels();
  for (const name of SUBGROUP_KERNELS) {
    assertEquals(typeof generated[`${name}_subgroups.wgsl`], "string", `${name}_subgroups.wgsl`);
  }
  for (const { copies } of SHARED_BLOCKS) {
    for (const copy of copies) assertEquals(typeof generated[`${copy}.wgsl`], "string", copy);
  }
  for (const [name, code] of Object.entries(generated)) {
    const shipped = await Deno.readTextFile(`${ROOT}kernels/${name}`);
    assertEquals(shipped, code, `kernels/${name} differs: run deno task kernels`);
  }
});

Deno.test("a shared block is copied whole from its source, and the rest of the copy is kept", async () => {
  const block = (body: string) =>
    `// ---- BEGIN SHARED s ----\n${body}\n// ---- END SHARED s ----\n`;
  const files: Record<string, string> = {
    a: `// a\n${block("fn f() -> u32 { return 1u; }")}fn main_a() {}\n`,
    b: `// b\n${block("stale")}fn main_b() {}\n`,
  };
  const read = (name: string) => Promise.resolve(files[name]);
  const out = await sharedBlockCopies([{ name: "s", source: "a", copies: ["b"] }], read);
  assertEquals(out, { "b.wgsl": `// b\n${block("fn f() -> u32 { return 1u; }")}fn main_b() {}\n` });
  // The attention passes' source holds its block once; the block holds the key staging.
  const forward = await Deno.readTextFile(`${ROOT}kernels/attention_tiled_forward.wgsl`);
  assert(
    sharedBlock("attention_tiled", "attention_tiled_forward", forward).includes("fn stage_keys("),
  );
});

Deno.test("a kernel without its shared block's markers, or with two blocks, is refused", async () => {
  const block = "// ---- BEGIN SHARED s ----\nx\n// ---- END SHARED s ----\n";
  for (const [a, b] of [["x\n", block], [block, "y\n"], [block, block + block]]) {
    const files: Record<string, string> = { a, b };
    await assertRejects(
      () =>
        sharedBlockCopies(
          [{ name: "s", source: "a", copies: ["b"] }],
          (name) => Promise.resolve(files[name]),
        ),
      (e) => assert(String(e).includes("Cannot copy the shared block s"), String(e)),
    );
  }
});
