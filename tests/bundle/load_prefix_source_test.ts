/**
 * loadPrefixSource(): one entry point for `generate --bundle` and servers,
 * accepting a bundle path, a file: URL, or a PEFT adapter folder.
 */
import { assertEquals, assertRejects } from "../_assert.ts";
import { LLAMA_TINY } from "../_fixtures.ts";
import {
  type BundleError,
  exportPeft,
  loadPrefixSource,
  PrefixBundle,
} from "../../src/bundle/mod.ts";
import { loadModel } from "../../src/model/mod.ts";
import { gpt2Tiny, oraclePrefix } from "./_helpers.ts";

Deno.test("loadPrefixSource() reads a bundle path, a file: URL and a PEFT folder alike", async () => {
  const model = await gpt2Tiny();
  const prefix = await oraclePrefix();
  const bundle = await PrefixBundle.create({
    prefix,
    model,
    task: "src",
    method: { reparam: "none", gate: false, midDim: null },
  });
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/t.prefix.zip`, await bundle.toBytes({ dtype: "F32" }));
    await exportPeft(bundle, `${dir}/peft`);
    for (
      const src of [`${dir}/t.prefix.zip`, new URL(`file://${dir}/t.prefix.zip`), `${dir}/peft`]
    ) {
      const p = await loadPrefixSource(src, { model });
      assertEquals(p.prefixLen, prefix.prefixLen);
      assertEquals(Array.from(p.kv), Array.from(prefix.kv), String(src));
    }
    // Verified against the model: another base is refused, for both kinds of source.
    const llama = await loadModel(`${LLAMA_TINY}/model`);
    await assertRejects(
      () => loadPrefixSource(`${dir}/t.prefix.zip`, { model: llama }),
      (e) => assertEquals((e as BundleError).code, "BASE_MISMATCH"),
    );
    await assertRejects(
      () => loadPrefixSource(`${dir}/peft`, { model: llama }),
      (e) => assertEquals((e as BundleError).code, "PREFIX_MISMATCH"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
