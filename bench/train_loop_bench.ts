/**
 * Training pipeline benchmark: what the data pipeline and the loop cost next
 * to the GPU work they schedule.
 *
 * 1. Data: read + tokenize data/e2e-small/train.csv (300 rows) with the
 *    GPT-2 tokenizer.
 * 2. Loop overhead: `train()` with a trainer that does nothing (100 steps of
 *    batch 10: batching, schedule, metrics, plots, one checkpoint, the bundle)
 *    against a bare loop that only builds the same batches.
 * 3. Real steps on WebGPU (gpt2-tok, P=10, mid 512, batch 4, max-len 64):
 *    `train()` against the bare `PrefixTrainer` accumulate+step on the same
 *    batches, same step count.
 *
 * Usage: deno run -A bench/train_loop_bench.ts [--quick]   (or: deno task bench train_loop)
 */
import { fileURLToPath } from "node:url";
import { loadModel } from "../src/model/mod.ts";
import { PrefixModule } from "../src/prefix/mod.ts";
import {
  collateBatch,
  planEpoch,
  PrefixTrainer,
  prepareDataset,
  train,
  type Trainer,
} from "../src/train/mod.ts";
import { printHelpIfAsked } from "./_help.ts";

printHelpIfAsked(import.meta.url);

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const quick = Deno.args.includes("--quick");
const GPT2_TOK = `${ROOT}../shared/fixtures/gpt2-tok`;
try {
  await Deno.stat(GPT2_TOK);
} catch {
  console.error(
    `skipped: this benchmark needs ${GPT2_TOK} (the 21 MB GPT-2 with the full tokenizer)`,
  );
  Deno.exit(0);
}
const model = await loadModel(GPT2_TOK);
const trainPath = `${ROOT}data/e2e-small/train.csv`;

// 1. Data pipeline.
let t = performance.now();
const ds = await prepareDataset(model, trainPath, { maxLen: 246 });
const dataMs = performance.now() - t;
console.log(
  `| data: read+tokenize e2e-small train (${ds.examples.length} rows) | ${dataMs.toFixed(0)} ms | ${
    (ds.examples.length / (dataMs / 1000)).toFixed(0)
  } rows/s |`,
);

// 2. Loop overhead with a trainer that does nothing.
const noop = (pm: PrefixModule): Trainer => ({
  accumulate: (b) => Promise.resolve({ lossSum: b.inputIds.length, tokens: b.inputIds.length }),
  step: () => Promise.resolve({ gradNorm: 1, skipped: false }),
  evaluate: (b) => Promise.resolve({ lossSum: b.inputIds.length, tokens: b.inputIds.length }),
  readParams: () => Promise.resolve(pm.params),
  readGrads: () => Promise.resolve(pm.params),
  readOptimizerState: () => {
    const z = Object.fromEntries(
      Object.entries(pm.params).map(([k, v]) => [k, new Float32Array(v.length)]),
    );
    return Promise.resolve({ step: 0, m: z, v: z });
  },
  loadOptimizerState: () => Promise.resolve(),
  destroy: () => {},
});
const STEPS = 100;
const out = await Deno.makeTempDir({ prefix: "bench-train-" });
t = performance.now();
await train(model, { train: ds }, {
  outDir: out,
  steps: STEPS,
  batchSize: 10,
  maxLen: 246,
  evalEvery: 0,
  checkpointEvery: 0,
}, { trainer: (_m, pm) => Promise.resolve(noop(pm)), progress: false });
const loopMs = performance.now() - t;
const lengths = ds.examples.map((e) => e.inputIds.length);
t = performance.now();
for (let k = 0; k < STEPS; k++) {
  const nb = planEpoch(lengths, { batchSize: 10, seed: 42, epoch: Math.floor(k / 30) });
  collateBatch(ds.examples, nb[k % nb.length], 0);
}
const bareMs = performance.now() - t;
console.log(
  `| loop, no-op trainer, ${STEPS} steps x batch 10 (incl. fold, plots, checkpoint, bundle) | ${
    loopMs.toFixed(0)
  } ms (${(loopMs / STEPS).toFixed(2)} ms/step) | bare batching ${bareMs.toFixed(0)} ms |`,
);

// 3. Real WebGPU steps. The bare loop runs before and after train(), so a
// warm shader cache on the second run does not favour either side.
const GPU_STEPS = quick ? 2 : 4;
const small = await prepareDataset(model, trainPath, { maxLen: 64 });
const opts = { prefixLen: 10, reparam: "residual" as const, gate: true, midDim: 512, seed: 42 };
const longest = Math.max(...small.examples.map((e) => e.inputIds.length));
const plan = planEpoch(small.examples.map((e) => e.inputIds.length), {
  batchSize: 4,
  seed: 42,
  epoch: 0,
});
async function bare(): Promise<number> {
  const start = performance.now();
  const pm = PrefixModule.init(model.config, opts);
  const trainer = await PrefixTrainer.create(model, pm, { maxBatch: 4, maxLen: longest });
  for (let s = 0; s < GPU_STEPS; s++) {
    await trainer.accumulate(
      collateBatch(small.examples, plan[s], model.config.eosTokenIds[0] ?? 0),
    );
    await trainer.step({ lr: 5e-3, weightDecay: 0, maxGradNorm: 1 });
  }
  await trainer.readParams();
  trainer.destroy();
  return performance.now() - start;
}
const bare1 = await bare();
t = performance.now();
const r = await train(model, { train: small }, {
  ...opts,
  outDir: out,
  steps: GPU_STEPS,
  batchSize: 4,
  maxLen: 64,
  lr: 5e-3,
  logEvery: 1,
  evalEvery: 0,
  checkpointEvery: 0,
}, { progress: false });
const loopGpuMs = performance.now() - t;
const bare2 = await bare();
const bareGpuMs = Math.min(bare1, bare2);
console.log(
  `| WebGPU gpt2-tok P=10 mid 512, ${GPU_STEPS} steps x batch 4 (max-len 64), incl. trainer setup | train() ${
    loopGpuMs.toFixed(0)
  } ms | bare PrefixTrainer ${bare1.toFixed(0)} / ${bare2.toFixed(0)} ms | ratio ${
    (loopGpuMs / bareGpuMs).toFixed(2)
  } | final loss ${r.finalLoss?.toFixed(3)} |`,
);
await Deno.remove(out, { recursive: true });
