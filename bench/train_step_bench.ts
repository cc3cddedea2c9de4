/**
 * One training step (forward + backward + prefix backward + AdamW) on WebGPU: tokens/s on
 * the gpt2-tiny fixture, on a GPT-2-small-shaped model with random weights (12 layers,
 * 768 wide, 12 heads, vocabulary 50257; built in memory), on a Llama of the same width and
 * depth (GQA 12/4 heads, SwiGLU 2048, same vocabulary), and on the embedded stories260K,
 * plus each kernel's share of the step's GPU time from timestamp queries, so the next
 * optimization is obvious.
 *
 * Usage: deno run -A bench/train_step_bench.ts [--model tiny|small|llama-small|stories|both|all]
 *        [--batch 1] [--len 64] [--steps 2] [--prefix 10] [--reparam residual] [--mid 512]
 */
import { parseArgs } from "node:util";
import { loadModel } from "../src/model/mod.ts";
import { PrefixModule, type Reparam } from "../src/prefix/mod.ts";
import { PrefixTrainer } from "../src/train/mod.ts";
import type { LoadedModel } from "../src/model/mod.ts";
import { randomGpt2 } from "../tests/gpu/_random_gpt2.ts";
import { randomLlama } from "../tests/gpu/_random_llama.ts";
import { GPT2_TINY, STORIES } from "../tests/_fixtures.ts";
import { printHelpIfAsked } from "./_help.ts";

printHelpIfAsked(import.meta.url);

const { values } = parseArgs({
  args: Deno.args,
  options: {
    model: { type: "string", default: "both" },
    batch: { type: "string", default: "1" },
    len: { type: "string", default: "64" },
    steps: { type: "string", default: "2" },
    prefix: { type: "string", default: "10" },
    reparam: { type: "string", default: "residual" },
    mid: { type: "string", default: "512" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log(
    "Usage: deno run -A bench/train_step_bench.ts [--model tiny|small|llama-small|stories|both|all]\n" +
      "       [--batch B] [--len T]\n" +
      "       [--steps N] [--prefix P] [--reparam none|mlp|residual] [--mid m]\n" +
      "Times training steps on WebGPU and prints each kernel's share of one step.",
  );
  Deno.exit(0);
}
const B = Number(values.batch), T = Number(values.len), steps = Number(values.steps);
const P = Number(values.prefix), mid = Number(values.mid);
const reparam = values.reparam as Reparam;
if (![B, T, steps, P, mid].every((v) => Number.isInteger(v) && v >= 1)) {
  console.error(
    "Cannot run the benchmark: --batch, --len, --steps, --prefix, --mid must be positive integers",
  );
  Deno.exit(2);
}
if (!["none", "mlp", "residual"].includes(reparam)) {
  console.error(
    `Cannot run the benchmark: --reparam must be none, mlp or residual, got ${reparam}`,
  );
  Deno.exit(2);
}
const MODELS = ["tiny", "small", "llama-small", "stories", "both", "all"];
if (!MODELS.includes(values.model!)) {
  console.error(
    `Cannot run the benchmark: --model must be one of ${MODELS.join(", ")}, got ${values.model}`,
  );
  Deno.exit(2);
}

function batchFor(model: LoadedModel, b: number, t: number) {
  const V = model.config.vocabSize;
  const inputIds = Array.from(
    { length: b },
    (_, r) => Array.from({ length: t }, (_, i) => (r * 7919 + i * 104729) % V),
  );
  return { inputIds, labels: inputIds.map((row) => row.map((id, i) => (i === 0 ? -100 : id))) };
}

async function bench(name: string, model: LoadedModel) {
  const pm = PrefixModule.init(model.config, {
    prefixLen: P,
    reparam,
    gate: true,
    midDim: mid,
    seed: 1,
  });
  const t0 = performance.now();
  const trainer = await PrefixTrainer.create(model, pm, { maxBatch: B, maxLen: T });
  const setupMs = performance.now() - t0;
  try {
    // Warm-up on a short batch: compiles every pipeline without paying for a full step.
    await trainer.accumulate(batchFor(model, 1, Math.min(T, 4)));
    await trainer.step({ lr: 1e-3 });
    const batch = batchFor(model, B, T);
    const times: number[] = [];
    for (let i = 0; i < steps; i++) {
      if (i === steps - 1) trainer.context.startTiming();
      const t = performance.now();
      await trainer.accumulate(batch);
      await trainer.step({ lr: 1e-3 });
      times.push(performance.now() - t);
    }
    const shares = await trainer.context.stopTiming();
    const best = Math.min(...times);
    const tokens = B * T;
    const c = model.config;
    console.log(
      `\n### ${name}: L=${c.numLayers} d=${c.hiddenSize} H=${c.numHeads} V=${c.vocabSize}, B=${B} T=${T} P=${P} ${reparam}-gate m=${mid}`,
    );
    console.log(
      `setup (upload + allocate + compile) ${(setupMs / 1000).toFixed(1)} s; LM head chunks: ${
        JSON.stringify(trainer.vocabChunks)
      }`,
    );
    console.log(
      `step times ms: ${times.map((x) => x.toFixed(0)).join(", ")}; best ${best.toFixed(0)} ms = ${
        (tokens / best * 1000).toFixed(1)
      } tokens/s`,
    );
    if (shares.totalMs > 0) {
      console.log(`\n| kernel (pass label) | ms in the timed step | share |`);
      console.log(`| --- | --- | --- |`);
      const rows = [...shares.byLabel.entries()].sort((a, b) => b[1] - a[1]);
      for (const [label, ms] of rows) {
        console.log(`| ${label} | ${ms.toFixed(1)} | ${(100 * ms / shares.totalMs).toFixed(1)}% |`);
      }
      console.log(`| (sum of timed passes) | ${shares.totalMs.toFixed(1)} | 100% |`);
    }
  } finally {
    trainer.destroy();
  }
}

const wants = (name: string) =>
  values.model === name || values.model === "all" ||
  (values.model === "both" && (name === "tiny" || name === "small"));
if (wants("tiny")) {
  await bench("gpt2-tiny fixture", await loadModel(`${GPT2_TINY}/model`));
}
if (wants("stories")) {
  await bench("stories260K (the embedded default, a Llama)", await loadModel(STORIES));
}
if (wants("small")) {
  const t = performance.now();
  const small = await randomGpt2({
    layers: 12,
    embd: 768,
    heads: 12,
    vocab: 50257,
    positions: 1024,
    seed: 1,
  });
  console.log(
    `\n(random GPT-2-small weights built in ${((performance.now() - t) / 1000).toFixed(1)} s)`,
  );
  await bench("GPT-2-small-shaped, random weights", small);
}
if (wants("llama-small")) {
  const llama = await randomLlama({
    layers: 12,
    hidden: 768,
    heads: 12,
    kvHeads: 4,
    intermediate: 2048,
    vocab: 50257,
    positions: 1024,
    seed: 1,
  });
  await bench("Llama of GPT-2-small's width and depth (GQA 12/4), random weights", llama);
}
const info = (await navigator.gpu.requestAdapter())?.info;
console.log(`\nadapter: ${info?.description || info?.vendor}`);
