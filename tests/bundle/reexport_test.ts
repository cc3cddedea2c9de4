/**
 * A bundle binds to its base model's weights, config and tokenizer, not to one ONNX file: after
 * `export-onnx` writes the folder's graph again, as f32, f16 or q8, the bundle still loads and its
 * logits stay within the export's stated bound of the original graph's. A folder holding only the
 * graph verifies through the weights' fingerprint in export.json, and a graph exported from other
 * weights is refused by name.
 */
import { join } from "node:path";
import { BundleError, PrefixBundle } from "../../src/bundle/mod.ts";
import { InferenceEngine } from "../../src/infer/mod.ts";
import { loadModel, prefixWidth } from "../../src/model/mod.ts";
import { EXPORT_LOGIT_BOUNDS, exportOnnx, readExportRecord } from "../../src/onnx/mod.ts";
import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { GPT2_TOK, maxAbsDiff, relL2 } from "../_fixtures.ts";
import { randomPrefix } from "../infer/_engines.ts";

const FILES = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"];

/** A copy of gpt2-text (weights, tokenizer, the PyTorch-exported graph) to export into. */
async function copyModel(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "reexport-" });
  await Deno.mkdir(join(dir, "onnx"));
  for (const f of FILES) await Deno.copyFile(join(GPT2_TOK, f), join(dir, f));
  await Deno.copyFile(join(GPT2_TOK, "onnx/model.onnx"), join(dir, "onnx/model.onnx"));
  return dir;
}

const REQUEST = { inputIds: [[5, 6, 7, 8, 9]], attentionMask: [[1, 1, 1, 1, 1]] };

/** A bundle of a random prefix of `P` tokens for the model in `dir`. */
async function bundleFor(dir: string, P: number, seed: number): Promise<Uint8Array> {
  const model = await loadModel(dir);
  const bundle = await PrefixBundle.create({
    prefix: randomPrefix(prefixWidth(model.config), P, seed),
    model,
    task: "t",
    method: { reparam: "none", gate: false, midDim: null },
  });
  return await bundle.toBytes({ dtype: "F32" });
}

async function logits(dir: string, prefix: PrefixBundle["prefix"]): Promise<Float32Array> {
  const engine = await InferenceEngine.create(await loadModel(dir), { executionProvider: "wasm" });
  try {
    return (await engine.logits({ ...REQUEST, prefixes: [prefix] })).data as Float32Array;
  } finally {
    await engine.dispose();
  }
}

Deno.test({
  name: "a bundle serves on its base re-exported as f32, f16 and q8, within each dtype's bound",
  sanitizeResources: false,
  async fn() {
    const dir = await copyModel();
    try {
      const model = await loadModel(dir);
      const bundleBytes = await bundleFor(dir, 4, 3);
      const first = await PrefixBundle.fromBytes(bundleBytes, { model });
      const want = await logits(dir, first.prefix);
      for (const dtype of ["f32", "f16", "q8"] as const) {
        await exportOnnx(dir, { dtype });
        const record = await readExportRecord(join(dir, "onnx/model.onnx"));
        assertEquals(record?.dtype, dtype);
        assert(record?.source.fingerprint, "export.json names the weights' fingerprint");
        const again = await loadModel(dir);
        const bundle = await PrefixBundle.fromBytes(bundleBytes, { model: again });
        const got = await logits(dir, bundle.prefix);
        const bound = EXPORT_LOGIT_BOUNDS[dtype];
        const err = { maxAbs: maxAbsDiff(got, want), relL2: relL2(got, want) };
        assert(
          err.maxAbs <= bound.maxAbs && err.relL2 <= bound.relL2,
          `${dtype}: ${JSON.stringify(err)} over ${JSON.stringify(bound)}`,
        );
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("a folder with only the exported graph verifies a bundle through export.json", async () => {
  const dir = await copyModel();
  const onlyGraph = await Deno.makeTempDir({ prefix: "graph-only-" });
  try {
    const bundleBytes = await bundleFor(dir, 2, 1);
    await exportOnnx(dir, { dtype: "q8" });
    await Deno.mkdir(join(onlyGraph, "onnx"));
    for (const f of ["config.json", "tokenizer.json", "tokenizer_config.json"]) {
      await Deno.copyFile(join(dir, f), join(onlyGraph, f));
    }
    for (const f of ["model.onnx", "export.json"]) {
      await Deno.copyFile(join(dir, "onnx", f), join(onlyGraph, "onnx", f));
    }
    const served = await loadModel(onlyGraph);
    assertEquals(served.paths.weights, undefined);
    await PrefixBundle.fromBytes(bundleBytes, { model: served });

    // export.json that names other weights: refused, and the message says whose fingerprint.
    const recordPath = join(onlyGraph, "onnx", "export.json");
    const record = JSON.parse(await Deno.readTextFile(recordPath));
    record.source.fingerprint = "0".repeat(64);
    await Deno.writeTextFile(recordPath, JSON.stringify(record));
    await assertRejects(
      async () => await PrefixBundle.fromBytes(bundleBytes, { model: await loadModel(onlyGraph) }),
      (e) => {
        assert(e instanceof BundleError && e.code === "BASE_MISMATCH", String(e));
        assert(e.message.includes("other weights"), e.message);
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(onlyGraph, { recursive: true });
  }
});

Deno.test("a graph exported from other weights than the folder's is refused with the fix", async () => {
  const dir = await copyModel();
  try {
    const bundleBytes = await bundleFor(dir, 2, 1);
    await exportOnnx(dir, { dtype: "f32" });
    const recordPath = join(dir, "onnx", "export.json");
    const record = JSON.parse(await Deno.readTextFile(recordPath));
    record.source.fingerprint = "1".repeat(64);
    await Deno.writeTextFile(recordPath, JSON.stringify(record));
    await assertRejects(
      async () => await PrefixBundle.fromBytes(bundleBytes, { model: await loadModel(dir) }),
      (e) => {
        assert(e instanceof BundleError && e.code === "BASE_MISMATCH", String(e));
        assert(e.message.includes("deno task export-onnx --model"), e.message);
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
