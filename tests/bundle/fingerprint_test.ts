/**
 * Base-model fingerprints: stable, different for different weights, cheap
 * (sampled, ranged reads), cached per model, and available for an ONNX-only
 * model folder; the architecture names the edge families' features (q/k/v bias, q/k norm,
 * RoPE scaling).
 */
import { assert, assertEquals, assertRejects } from "../_assert.ts";
import {
  GPT2_TINY,
  LLAMA3_TINY,
  LLAMA_TINY,
  QWEN2_TINY,
  QWEN3_TINY,
  STORIES,
} from "../_fixtures.ts";
import { type BundleError, modelFingerprint, PrefixBundle } from "../../src/bundle/mod.ts";
import { baseArchitecture, sampleRanges } from "../../src/bundle/fingerprint.ts";
import {
  encodeSafetensors,
  loadModel,
  parseConfig,
  SafetensorsFile,
  type TensorToWrite,
} from "../../src/model/mod.ts";
import { oraclePrefix, sha256 } from "./_helpers.ts";

Deno.test("modelFingerprint() is stable across loads and differs between models", async () => {
  const a1 = await modelFingerprint(await loadModel(`${GPT2_TINY}/model`));
  const a2 = await modelFingerprint(await loadModel(`${GPT2_TINY}/model`));
  const b = await modelFingerprint(await loadModel(`${LLAMA_TINY}/model`));
  const c = await modelFingerprint(await loadModel(STORIES));
  assertEquals(a1, a2);
  assertEquals(a1.kind, "safetensors-sample-v1");
  assert(/^[0-9a-f]{64}$/.test(a1.sha256));
  assert(a1.sha256 !== b.sha256 && b.sha256 !== c.sha256 && a1.sha256 !== c.sha256);
});

Deno.test("modelFingerprint() is cached per LoadedModel", async () => {
  const model = await loadModel(`${GPT2_TINY}/model`);
  const p1 = modelFingerprint(model);
  const p2 = modelFingerprint(model);
  assert(p1 === p2, "the second call should return the cached promise");
  await p1;
});

Deno.test("an ONNX-only model folder still fingerprints, with kind onnx-sample-v1", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/onnx`);
    await Deno.copyFile(`${GPT2_TINY}/model/config.json`, `${dir}/config.json`);
    await Deno.copyFile(`${GPT2_TINY}/model/onnx/model.onnx`, `${dir}/onnx/model.onnx`);
    const onnxOnly = await loadModel(dir);
    const fp = await modelFingerprint(onnxOnly);
    assertEquals(fp.kind, "onnx-sample-v1");
    // The full folder computes the same ONNX fingerprint.
    const full = await loadModel(`${GPT2_TINY}/model`);
    assertEquals((await modelFingerprint(full, "onnx-sample-v1")).sha256, fp.sha256);
    await assertRejects(
      () => modelFingerprint(onnxOnly, "safetensors-sample-v1"),
      (e) => assertEquals((e as { code: string }).code, "BASE_MISMATCH"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the fingerprint sees a change inside a large tensor's sampled bytes, and only samples", async () => {
  const src = await SafetensorsFile.open(`${GPT2_TINY}/model/model.safetensors`);
  const tensors: Record<string, TensorToWrite> = {};
  for (const [name, info] of src.tensors) {
    tensors[name] = { dtype: "F32", shape: info.shape, data: await src.getFloat32(name) };
  }
  src.close();
  // The largest tensor (wte, 1000 x 64 f32 = 256 KB) is sampled, not hashed whole.
  const big = Object.entries(tensors).sort((a, b) => b[1].data.length - a[1].data.length)[0][0];
  const size = tensors[big].data.byteLength;
  const ranges = sampleRanges(size);
  const sampled = ranges.reduce((n, [, len]) => n + len, 0);
  assert(sampled < size / 10, `samples ${sampled} of ${size} bytes`);

  const dir = await Deno.makeTempDir();
  const write = async (edit: (d: Float32Array) => void) => {
    const copy = {
      ...tensors,
      [big]: { ...tensors[big], data: Float32Array.from(tensors[big].data) },
    };
    edit(copy[big].data as Float32Array);
    await Deno.copyFile(`${GPT2_TINY}/model/config.json`, `${dir}/config.json`);
    await Deno.writeFile(`${dir}/model.safetensors`, encodeSafetensors(copy));
    return (await modelFingerprint(await loadModel(dir))).sha256;
  };
  try {
    const same = await write(() => {});
    const inFirstPage = await write((d) => (d[3] += 1));
    const inMiddle = await write((d) => (d[d.length >> 1] += 1));
    assert(same !== inFirstPage && same !== inMiddle && inFirstPage !== inMiddle);
    // A byte outside every sampled range is, by design, not seen.
    const gapStart = ranges.map(([s, l]) => s + l).sort((a, b) => a - b).find((end) =>
      ranges.every(([s, l]) => end + 4 <= s || end >= s + l)
    )!;
    const unseen = await write((d) => (d[Math.ceil(gapStart / 4) + 1] += 1));
    assertEquals(unseen, same);
    // Sanity: the files really differ.
    assert((await sha256(await Deno.readFile(`${dir}/model.safetensors`))) !== same);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SafetensorsFile.readRange() reads inside one tensor and refuses ranges outside it", async () => {
  const st = await SafetensorsFile.open(`${GPT2_TINY}/model/model.safetensors`);
  try {
    const name = [...st.tensors.keys()][0];
    const all = await st.getBytes(name);
    assertEquals(await st.readRange(name, 8, 64), all.slice(8, 72));
    assertEquals(await st.readRange(name, all.length - 4, 4), all.slice(all.length - 4));
    for (const [off, len] of [[-1, 4], [all.length - 3, 4], [0.5, 4]]) {
      try {
        await st.readRange(name, off, len);
        throw new Error(`readRange(${off}, ${len}) should have thrown`);
      } catch (e) {
        assertEquals((e as { code?: string }).code, "INVALID_INPUT");
      }
    }
  } finally {
    st.close();
  }
});

Deno.test("the architecture covers the edge families' features, and a bundle refuses a model without them", async () => {
  const method = { reparam: "none", gate: false, midDim: null } as const;
  const bundleFor = async (dir: string) => {
    const model = await loadModel(`${dir}/model`);
    const prefix = await oraclePrefix("prefix-none.safetensors", dir);
    const bytes = await (await PrefixBundle.create({ prefix, model, task: "t", method })).toBytes();
    return { model, bytes };
  };
  const cases: [string, Record<string, unknown>, string][] = [
    [QWEN2_TINY, { model_type: "qwen3" }, "qkvBias true (bundle) vs undefined (model)"],
    [QWEN3_TINY, { model_type: "qwen2" }, "qkNorm true (bundle) vs undefined (model)"],
    [
      LLAMA3_TINY,
      { rope_scaling: null },
      "ropeScaling llama3 factor=4 low=1 high=4 original=32 (bundle) vs undefined (model)",
    ],
  ];
  for (const [dir, edit, message] of cases) {
    const { model, bytes } = await bundleFor(dir);
    const back = await PrefixBundle.fromBytes(bytes, { model });
    assert(back.baseVerified);
    const other = { ...model, config: parseConfig({ ...model.config.raw, ...edit }) };
    await assertRejects(
      () => PrefixBundle.fromBytes(bytes, { model: other }),
      (e: unknown) => {
        assertEquals((e as BundleError).code, "BASE_MISMATCH");
        assert((e as Error).message.includes(message), (e as Error).message);
      },
    );
  }
  assertEquals(baseArchitecture((await loadModel(`${LLAMA_TINY}/model`)).config).qkNorm, undefined);
});
