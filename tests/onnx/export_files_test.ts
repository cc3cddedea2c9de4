/**
 * What the exporter writes besides the graph, and how it refuses: export.json
 * (dtype, options, source fingerprint), external data for large weights, the
 * CLI with its progress bar, config fields it does not implement, and the
 * one-line hint a folder without onnx/ gives.
 */
import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { GPT2_TINY, LLAMA_TINY, maxAbsDiff, ROOT, STORIES } from "../_fixtures.ts";
import { PrefixEdgeError } from "../../src/errors/mod.ts";
import { InferenceEngine } from "../../src/infer/mod.ts";
import { NO_NATIVE } from "../infer/_engines.ts";
import { loadModel, sha256Hex } from "../../src/model/mod.ts";
import { exportOnnx, readExportRecord } from "../../src/onnx/mod.ts";

function assertCode(e: unknown, code: string, mentions?: string): void {
  assert(e instanceof PrefixEdgeError, `expected PrefixEdgeError, got ${e}`);
  assertEquals(e.code, code);
  if (mentions) assert(e.message.includes(mentions), `"${e.message}" should name ${mentions}`);
}

/** A model folder whose config.json is edited and whose weights link to `src`'s. */
async function editedModel(src: string, edit: Record<string, unknown>): Promise<string> {
  const dir = await Deno.makeTempDir();
  const config = JSON.parse(await Deno.readTextFile(`${src}/config.json`));
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify({ ...config, ...edit }));
  await Deno.symlink(`${src}/model.safetensors`, `${dir}/model.safetensors`);
  return dir;
}

Deno.test("export.json records the tool, dtype, options and a fingerprint of the source", async () => {
  const out = `${await Deno.makeTempDir()}/model.onnx`;
  const r = await exportOnnx(STORIES, { dtype: "f16", out });
  const rec = await readExportRecord(out);
  assertEquals(rec, r.record);
  assertEquals(rec!.dtype, "f16");
  assertEquals(rec!.options, { optimize: false, opset: 17, externalData: false, fusedOps: [] });
  assert(rec!.tool.startsWith("prefix-edge "));
  assertEquals(rec!.source.family, "llama");
  assertEquals(
    rec!.source.weightsSha256,
    await sha256Hex(await Deno.readFile(`${STORIES}/model.safetensors`)),
  );
  assertEquals(
    rec!.source.configSha256,
    await sha256Hex(await Deno.readFile(`${STORIES}/config.json`)),
  );
  assertEquals(rec!.files.graphBytes, (await Deno.stat(out)).size);
  // f16 storage: about half the f32 checkpoint.
  assert(rec!.files.graphBytes < 0.6 * rec!.source.weightsBytes, `${rec!.files.graphBytes}`);
  assertEquals(await readExportRecord(`${STORIES}/onnx/model.onnx`), undefined);
});

Deno.test("weights over the threshold go to external data beside the graph", async () => {
  const dir = await Deno.makeTempDir();
  const inline = await exportOnnx(`${GPT2_TINY}/model`, { out: `${dir}/inline.onnx` });
  const ext = await exportOnnx(`${GPT2_TINY}/model`, {
    out: `${dir}/ext/model.onnx`,
    externalDataThreshold: 0,
  });
  assertEquals(ext.externalDataPath, `${dir}/ext/model.onnx_data`);
  assertEquals(ext.record.options.externalData, true);
  assertEquals(ext.record.files.externalData, "model.onnx_data");
  assert(
    ext.record.files.graphBytes < 50_000,
    `graph holds weights: ${ext.record.files.graphBytes}`,
  );
  assertEquals(ext.record.files.externalDataBytes, (await Deno.stat(ext.externalDataPath!)).size);

  // The same weights, only placed elsewhere.
  assertEquals(inline.record.files.externalData, undefined);
  assert(inline.record.files.graphBytes > ext.record.files.externalDataBytes! / 2);
});

Deno.test("config fields the graph does not implement are refused by name", async () => {
  const out = `${await Deno.makeTempDir()}/model.onnx`;
  const cases: [Record<string, unknown>, string][] = [
    [{ rope_scaling: { rope_type: "yarn", factor: 8 } }, "rope_scaling"],
    [{ rope_scaling: { type: "dynamic", factor: 2 } }, "rope_scaling"],
    [{ use_sliding_window: true, sliding_window: 64 }, "use_sliding_window"],
    [{ attention_bias: true }, "attention_bias"],
    [{ mlp_bias: true }, "mlp_bias"],
    [{ sliding_window: 4096 }, "sliding_window"],
    [{ hidden_act: "gelu" }, "hidden_act"],
  ];
  for (const [edit, field] of cases) {
    const dir = await editedModel(`${LLAMA_TINY}/model`, edit);
    await assertRejects(
      () => exportOnnx(dir, { out }),
      (e) => assertCode(e, "UNSUPPORTED_MODEL", field),
    );
  }
  const gpt2 = await editedModel(`${GPT2_TINY}/model`, { activation_function: "relu" });
  await assertRejects(
    () => exportOnnx(gpt2, { out }),
    (e) => assertCode(e, "UNSUPPORTED_MODEL", "activation_function"),
  );
  // Shapes that disagree with config.json name the tensor.
  const wide = await editedModel(`${LLAMA_TINY}/model`, { intermediate_size: 128 });
  await assertRejects(
    () => exportOnnx(wide, { out }),
    (e) => assertCode(e, "CONFIG_INVALID", "model.layers.0.mlp.gate_proj.weight"),
  );
  const empty = await Deno.makeTempDir();
  await assertRejects(
    () => exportOnnx(empty, { out }),
    (e) => assertCode(e, "FILE_NOT_FOUND", "config.json"),
  );
});

Deno.test("a folder without onnx/ says in one line which command exports it", async () => {
  const dir = await editedModel(STORIES, {});
  const model = await loadModel(dir);
  const e = await assertRejects(() => InferenceEngine.create(model, { executionProvider: "wasm" }));
  assertCode(e, "FILE_NOT_FOUND", `deno task export-onnx --model ${dir}`);
  assert(!(e as Error).message.includes("\n"));
});

Deno.test("deno task export-onnx writes the graph into the model folder with a progress bar", async () => {
  const dir = await editedModel(STORIES, {});
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}src/cli/export_onnx.ts`, "--model", dir, "--dtype", "q8"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(stderr);
  assertEquals(code, 0, err);
  assert(/export 47\/47 \[#+\] 100%/.test(err), err);
  assert(err.includes(`${dir}/onnx/model.onnx`), err);
  assertEquals((await readExportRecord(`${dir}/onnx/model.onnx`))?.dtype, "q8");
  // The folder now loads and generates.
  const engine = await InferenceEngine.create(await loadModel(dir), { executionProvider: "wasm" });
  const out = await engine.logits({ inputIds: [[1, 403]] });
  assertEquals(out.dims, [1, 2, 512]);
  await engine.dispose();
});

Deno.test("deno task export-onnx --dtype q4 --calibration FILE records GPTQ and says so", async () => {
  const dir = await editedModel(STORIES, {});
  await Deno.copyFile(`${STORIES}/tokenizer.json`, `${dir}/tokenizer.json`); // to cut the text
  const text = `${dir}/calibration.txt`;
  await Deno.writeTextFile(text, "Once upon a time, there was a little dog named Max. ".repeat(40));
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${ROOT}src/cli/export_onnx.ts`,
      "--model",
      dir,
      "--dtype",
      "q4",
      "--calibration",
      text,
      "--calibration-sequences",
      "3",
      "--calibration-tokens",
      "64",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(stderr);
  assertEquals(code, 0, err);
  assert(err.includes("GPTQ on 3 sequences of 64 tokens"), err);
  const record = await readExportRecord(`${dir}/onnx/model.onnx`);
  assertEquals(record?.options.calibration, { method: "gptq", sequences: 3, tokens: 64 });
});

for (const ep of ["wasm", "native"] as const) {
  Deno.test({
    name: `a model folder whose graph has external data loads and runs on ${ep}`,
    ignore: ep === "native" && NO_NATIVE,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const dir = await editedModel(`${GPT2_TINY}/model`, {});
      await exportOnnx(dir, { externalDataThreshold: 0 });
      const model = await loadModel(dir);
      assertEquals(model.paths.onnxData, `${dir}/onnx/model.onnx_data`);
      const req = { inputIds: [[3, 4, 5], [6, 7, 8]], attentionMask: [[1, 1, 1], [0, 1, 1]] };
      const ours = await InferenceEngine.create(model, { executionProvider: ep });
      const ref = await InferenceEngine.create(await loadModel(`${GPT2_TINY}/model`), {
        executionProvider: ep,
      });
      try {
        const [a, b] = [await ours.logits(req), await ref.logits(req)];
        assert(maxAbsDiff(a.data, b.data) <= 1e-5, `${maxAbsDiff(a.data, b.data)}`);
      } finally {
        await ours.dispose();
        await ref.dispose();
      }
    },
  });
}
