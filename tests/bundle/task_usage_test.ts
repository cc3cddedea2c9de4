/**
 * A bundle's task usage (prompt layout and generation defaults): written by training, checked
 * when read, carried through a convert and through PEFT's generation_config.json, and absent
 * from older bundles, which keep working.
 */
import { join } from "node:path";
import {
  BundleError,
  exportPeft,
  formatTaskPrompt,
  GENERATION_CONFIG,
  importPeft,
  loadTaskPrefix,
  PrefixBundle,
  taskUsageOf,
} from "../../src/bundle/mod.ts";
import { endOfOutputToken, loadModel } from "../../src/model/mod.ts";
import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { FIXTURES, STORIES } from "../_fixtures.ts";
import { editManifest, gpt2Tiny, oraclePrefix } from "./_helpers.ts";

const USAGE = {
  prompt: {
    template: "{input} ||",
    separator: " ||",
    addSpecialTokens: true,
    exampleInput: "name : A",
  },
  generation: { temperature: 0, maxNewTokens: 40, stop: ["."], eosTokenIds: [50256, 7] },
};

async function bundleWithUsage() {
  return await PrefixBundle.create({
    prefix: await oraclePrefix(),
    model: await gpt2Tiny(),
    task: "t",
    method: { reparam: "residual", gate: true, midDim: 32 },
    ...USAGE,
  });
}

Deno.test("a bundle keeps its prompt layout and generation defaults through bytes and dtypes", async () => {
  const bundle = await bundleWithUsage();
  for (const dtype of ["F32", "F16", "I8"] as const) {
    const back = await PrefixBundle.fromBytes(await bundle.toBytes({ dtype }), {
      model: await gpt2Tiny(),
    });
    assertEquals(taskUsageOf(back.manifest), USAGE, dtype);
  }
});

Deno.test("a manifest with a malformed prompt or generation block is refused by name", async () => {
  const bundle = await bundleWithUsage();
  const bytes = await bundle.toBytes({ dtype: "F32" });
  const { prompt, generation } = USAGE;
  const cases: [Record<string, unknown>, string][] = [
    [{ prompt: { ...prompt, template: "no slot" } }, "prompt.template"],
    [{ prompt: { ...prompt, addSpecialTokens: "yes" } }, "prompt.addSpecialTokens"],
    [{ generation: { ...generation, temperature: 3 } }, "generation.temperature"],
    [{ generation: { ...generation, maxNewTokens: 0 } }, "generation.maxNewTokens"],
    [{ generation: { ...generation, eosTokenIds: [-1] } }, "generation.eosTokenIds"],
    [{ generation: { ...generation, stop: [""] } }, "generation.stop"],
  ];
  for (const [patch, field] of cases) {
    const broken = editManifest(bytes, (m) => Object.assign(m, patch));
    await assertRejects(() => PrefixBundle.fromBytes(broken, { model: null }), (e) => {
      assert(e instanceof BundleError && e.code === "BUNDLE_CORRUPT", String(e));
      assert(e.message.includes(field), `${field}: ${e.message}`);
    });
  }
});

Deno.test("a PEFT export writes generation_config.json, and an import reads it back", async () => {
  const bundle = await bundleWithUsage();
  const dir = await Deno.makeTempDir();
  try {
    await exportPeft(bundle, dir);
    const g = JSON.parse(await Deno.readTextFile(join(dir, GENERATION_CONFIG)));
    assertEquals(g.do_sample, false);
    assertEquals(g.max_new_tokens, 40);
    assertEquals(g.eos_token_id, [50256, 7]);
    assertEquals(g.stop_strings, ["."]);
    assertEquals(g.prefix_edge_prompt.template, "{input} ||");
    const back = await importPeft(dir, { model: await gpt2Tiny() });
    assertEquals(taskUsageOf(back.manifest), USAGE);
    const loaded = await loadTaskPrefix(dir, { model: await gpt2Tiny() });
    assertEquals(loaded.usage, USAGE);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a PEFT adapter written elsewhere reads Hugging Face's generation_config fields", async () => {
  const bundle = await PrefixBundle.create({
    prefix: await oraclePrefix(),
    model: await gpt2Tiny(),
    task: "t",
    method: { reparam: "none", gate: false, midDim: null },
  });
  const dir = await Deno.makeTempDir();
  try {
    await exportPeft(bundle, dir);
    // No usage recorded: no generation_config.json is written, and the import has none.
    await assertRejects(() => Deno.stat(join(dir, GENERATION_CONFIG)));
    assertEquals(taskUsageOf((await importPeft(dir, { model: await gpt2Tiny() })).manifest), {});
    await Deno.writeTextFile(
      join(dir, GENERATION_CONFIG),
      JSON.stringify({ do_sample: true, temperature: 0.7, max_new_tokens: 12, eos_token_id: 3 }),
    );
    const back = await importPeft(dir, { model: await gpt2Tiny() });
    assertEquals(back.manifest.generation, {
      temperature: 0.7,
      maxNewTokens: 12,
      stop: [],
      eosTokenIds: [3],
    });
    assertEquals(back.manifest.prompt, undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a bundle written before task usage was recorded still loads, with none", async () => {
  // Written by the previous release's `deno task train` (see tests/fixtures/README.md).
  const model = await loadModel(STORIES);
  const { prefix, usage } = await loadTaskPrefix(
    join(FIXTURES, "bundles/pet-stories-0.1.0.prefix.zip"),
    { model },
  );
  assertEquals(prefix.prefixLen, 10);
  assertEquals(usage, {});
  assertEquals(formatTaskPrompt("name: Max", usage.prompt), "name: Max");
});

Deno.test("outputs end with EOS, or with BOS for a model that never learned EOS", async () => {
  // stories260K's EOS row equals 185 unused byte tokens' rows: a prefix cannot make it stand out.
  const stories = await endOfOutputToken(await loadModel(STORIES));
  assertEquals(stories.id, 1);
  assert(stories.note?.includes("never learned EOS (id 2)"), stories.note ?? "");
  const gpt2 = await endOfOutputToken(await gpt2Tiny());
  assertEquals(gpt2, { id: (await gpt2Tiny()).config.eosTokenIds[0], note: null });
});
