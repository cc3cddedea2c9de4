/**
 * End to end on the real WebGPU trainer: a few steps of prefix tuning on a
 * slice of the embedded E2E subset with gpt2-text (random weights, the GPT-2
 * tokenizer cut to 1000 ids). The dev loss must fall, the outputs must be written, and a run
 * resumed from its checkpoint must end where the uninterrupted run ends.
 * Sized to take well under a minute on llvmpipe.
 */
import { join } from "node:path";
import { PrefixBundle } from "../../src/bundle/mod.ts";
import { loadModel } from "../../src/model/mod.ts";
import {
  readCheckpoint,
  readMetrics,
  tokenizeDataset,
  train,
  type TrainRunOptions,
} from "../../src/train/mod.ts";
import { loadExamples } from "../../src/train/mod.ts";
import { assert, assertEquals } from "../_assert.ts";
import { GPT2_TOK, relL2 } from "../_fixtures.ts";

const model = await loadModel(GPT2_TOK);
const tok = model.requireTokenizer();
// The fixture tokenizer has 1000 ids, so E2E rows take about twice the tokens of full GPT-2.
const MAX_LEN = 80;
const slice = async (path: string, n: number) => {
  const loaded = await loadExamples(path);
  return await tokenizeDataset(
    { ...loaded, examples: loaded.examples.slice(0, n) },
    tok,
    { maxLen: MAX_LEN, eosTokenId: tok.eosTokenId! },
  );
};
const trainSet = await slice("data/e2e-small/train.csv", 300);
const devSet = await slice("data/e2e-small/dev.csv", 50);

const OPTS: Omit<TrainRunOptions, "outDir"> = {
  prefixLen: 4,
  midDim: 64,
  reparam: "residual",
  gate: true,
  lr: 2e-2,
  batchSize: 4,
  maxLen: MAX_LEN,
  steps: 4,
  logEvery: 1,
  evalEvery: 0,
  checkpointEvery: 2,
  seed: 11,
  backend: "webgpu",
  taskName: "e2e-tiny",
};

Deno.test("a short real run on gpt2-text lowers the dev loss, writes its outputs and resumes exactly", async () => {
  const full = await Deno.makeTempDir({ prefix: "train-gpu-" });
  const result = await train(model, { train: trainSet, dev: devSet }, { ...OPTS, outDir: full }, {
    progress: false,
  });
  assert(result.initialDevLoss !== null && result.devLoss !== null);
  assert(
    result.devLoss < result.initialDevLoss,
    `dev loss ${result.initialDevLoss} -> ${result.devLoss} should fall`,
  );
  const metrics = await readMetrics(join(full, "metrics.jsonl"));
  assertEquals(metrics.filter((r) => r.type === "train").map((r) => r.step), [1, 2, 3, 4]);
  const bundle = await PrefixBundle.load(result.files.export.path, { model });
  assertEquals(bundle.manifest.task, "e2e-tiny");
  assertEquals(bundle.manifest.method.gates?.length, 4);
  assert(
    relL2(bundle.prefix.kv, result.prefixModule.fold().kv) < 1e-3,
    "F16 bundle ~ folded prefix",
  );

  // Resume from the step-2 checkpoint of a copy of the run and finish it again.
  const half = await Deno.makeTempDir({ prefix: "train-gpu-resume-" });
  const ckpt = await readCheckpoint(full);
  assertEquals(ckpt.state.step, 4);
  await train(model, { train: trainSet, dev: devSet }, {
    ...OPTS,
    steps: 4,
    checkpointEvery: 2,
    outDir: half,
  }, {
    progress: false,
    // Stop after the step-2 checkpoint by failing the third step.
    trainer: async (m, pm, o) => {
      const { PrefixTrainer } = await import("../../src/train/mod.ts");
      const t = await PrefixTrainer.create(m, pm, o);
      let steps = 0;
      const step = t.step.bind(t);
      t.step = (opt) => {
        if (++steps === 3) return Promise.reject(new Error("stop here"));
        return step(opt);
      };
      return t;
    },
  }).catch((e) => assert((e as Error).message === "stop here", String(e)));
  assertEquals((await readCheckpoint(half)).state.step, 2);
  const halfNative = `${half}-native`;
  const cp = await new Deno.Command("cp", { args: ["-r", half, halfNative] }).output();
  assert(cp.success, "copy the half-finished run");
  const resumed = await train(model, { train: trainSet, dev: devSet }, {
    ...OPTS,
    outDir: half,
    resume: half,
  }, {
    progress: false,
  });
  assertEquals(resumed.resumedFrom, 2);
  for (const name of Object.keys(result.prefixModule.params)) {
    const err = relL2(resumed.prefixModule.params[name], result.prefixModule.params[name]);
    assert(err < 1e-5, `param ${name} differs after resume: rel ${err}`);
  }

  // The same checkpoint (written on WebGPU) resumed on the native ONNX Runtime backend: the
  // losses of steps 3 and 4 continue the WebGPU run's.
  const onNative = await train(model, { train: trainSet, dev: devSet }, {
    ...OPTS,
    outDir: halfNative,
    resume: halfNative,
    backend: "native",
  }, { progress: false, onBackend: () => {} });
  assertEquals([onNative.backend, onNative.resumedFrom], ["native", 2]);
  const lossAt = async (dir: string) =>
    (await readMetrics(join(dir, "metrics.jsonl"))).filter((r) => r.type === "train")
      .map((r) => (r as { loss: number }).loss);
  const want = await lossAt(full), got = await lossAt(halfNative);
  assertEquals(got.length, 4);
  for (let i = 2; i < 4; i++) {
    const rel = Math.abs(got[i] - want[i]) / want[i];
    assert(rel < 1e-4, `step ${i + 1} loss on native ${got[i]} vs WebGPU ${want[i]}`);
  }
  await Deno.remove(full, { recursive: true });
  await Deno.remove(half, { recursive: true });
  await Deno.remove(halfNative, { recursive: true });
});
