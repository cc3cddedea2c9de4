/**
 * The training graph's attention with and without query blocks (src/train/ort/ops.ts,
 * `attentionQueryBlocks`): for each shape and backend, `--pairs` alternating pairs of processes,
 * one training with the attention in a single block and one with it cut into `--blocks` blocks
 * (each in its own process, so that two ORT thread pools never compete), each timing the median
 * of `--steps` steps (forward, backward and AdamW) on the same batch after a warm-up. The table
 * gives each side's median over the pairs and the median of the pairs' ratios.
 *
 * Shapes: `stories` (the embedded stories260K at the main job's settings: B=8, P=20, residual +
 * gate, rows of `--tokens` tokens, 110 by default, the median length of pet-stories' batches) and
 * `small4` (a GPT-2-small-shaped model with random weights, B=4, T=64, P=10, m=512).
 *
 * Usage: deno run -A bench/query_blocks_bench.ts [--shapes stories,small4] [--backends native,wasm]
 *        [--threads 1] [--blocks 4] [--steps 32] [--tokens 110] [--pairs 3]
 */
import { parseArgs } from "node:util";
import { type LoadedModel, loadModel } from "../src/model/mod.ts";
import { PrefixModule } from "../src/prefix/mod.ts";
import { OrtPrefixTrainer } from "../src/train/mod.ts";
import { GPT2_SMALL, writeRandomGpt2 } from "../tests/gpu/_random_gpt2.ts";
import { STORIES } from "../tests/_fixtures.ts";
import { printHelpIfAsked } from "./_help.ts";

printHelpIfAsked(import.meta.url);
const values = parseArgs({
  args: Deno.args,
  options: {
    shapes: { type: "string", default: "stories,small4" },
    backends: { type: "string", default: "native,wasm" },
    threads: { type: "string", default: "1" },
    blocks: { type: "string", default: "4" },
    steps: { type: "string", default: "32" },
    tokens: { type: "string", default: "110" },
    pairs: { type: "string", default: "3" },
    // Internal: one side of one pair, "shape:backend:blocks"; prints its median step in ms.
    child: { type: "string" },
  },
}).values;
const [THREADS, BLOCKS, STEPS, TOKENS, PAIRS] = [
  values.threads,
  values.blocks,
  values.steps,
  values.tokens,
  values.pairs,
].map(Number);
if (![THREADS, BLOCKS, STEPS, TOKENS, PAIRS].every((v) => Number.isInteger(v) && v >= 1)) {
  console.error(
    "Cannot run the benchmark: --threads, --blocks, --steps, --tokens and --pairs must be positive integers",
  );
  Deno.exit(2);
}

interface Shape {
  label: string;
  B: number;
  T: number;
  P: number;
  steps: number;
  load: () => Promise<LoadedModel>;
}
let smallDir: string | undefined;
const SHAPES: Record<string, Shape> = {
  stories: {
    label: `stories260K B=8 T=${TOKENS} P=20`,
    B: 8,
    T: TOKENS,
    P: 20,
    steps: STEPS,
    load: () => loadModel(STORIES),
  },
  small4: {
    label: "gpt2-small B=4 T=64 P=10",
    B: 4,
    T: 64,
    P: 10,
    // A GPT-2-small step takes about a second: fewer of them.
    steps: Math.max(4, Math.round(STEPS / 4)),
    load: async () => {
      smallDir = await Deno.makeTempDir({ prefix: "query-blocks-bench-" });
      await writeRandomGpt2(smallDir, GPT2_SMALL);
      return loadModel(smallDir);
    },
  },
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** One side of a pair: the median step (ms) of one trainer. */
async function timeOne(name: string, backend: "native" | "wasm", queryBlocks: number) {
  const s = SHAPES[name];
  const model = await s.load();
  try {
    const V = model.config.vocabSize;
    const inputIds = Array.from(
      { length: s.B },
      (_, r) => Array.from({ length: s.T }, (_, i) => (r * 7919 + i * 104729) % V),
    );
    // The first third of each row is prompt (no loss), as in the main job's records.
    const batch = {
      inputIds,
      labels: inputIds.map((row) => row.map((id, i) => (i < s.T / 3 ? -100 : id))),
    };
    const trainer = await OrtPrefixTrainer.create(
      model,
      PrefixModule.init(model.config, { prefixLen: s.P, reparam: "residual", gate: true, seed: 1 }),
      { maxBatch: s.B, maxLen: s.T, backend, threads: THREADS, queryBlocks },
    );
    const times: number[] = [];
    try {
      const warmUp = Math.max(2, Math.round(s.steps / 4));
      for (let i = 0; i < warmUp + s.steps; i++) {
        const t0 = performance.now();
        await trainer.accumulate(batch);
        await trainer.step({ lr: 1e-3 });
        if (i >= warmUp) times.push(performance.now() - t0);
      }
    } finally {
      trainer.destroy();
    }
    return median(times);
  } finally {
    if (smallDir) await Deno.remove(smallDir, { recursive: true });
  }
}

if (values.child) {
  const [name, backend, blocks] = values.child.split(":");
  console.log(await timeOne(name, backend as "native" | "wasm", Number(blocks)));
  Deno.exit(0);
}

async function side(name: string, backend: string, blocks: number): Promise<number> {
  const args = [
    "run",
    "-A",
    new URL(import.meta.url).pathname,
    ...Object.entries({ ...values, child: `${name}:${backend}:${blocks}` })
      .flatMap(([k, v]) => [`--${k}`, String(v)]),
  ];
  const out = await new Deno.Command(Deno.execPath(), { args, stderr: "inherit" }).output();
  if (!out.success) throw new Error(`the ${name} ${backend} run with ${blocks} blocks failed`);
  return Number(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1));
}

const rows: string[] = [];
for (const name of values.shapes.split(",").map((n) => n.trim())) {
  const s = SHAPES[name];
  if (!s) {
    console.error(`Cannot run the benchmark: unknown shape "${name}" (${Object.keys(SHAPES)})`);
    Deno.exit(2);
  }
  for (const backend of values.backends.split(",")) {
    const one: number[] = [], cut: number[] = [], ratio: number[] = [];
    for (let p = 0; p < PAIRS; p++) {
      one.push(await side(name, backend, 1));
      cut.push(await side(name, backend, BLOCKS));
      ratio.push(one[p] / cut[p]);
    }
    rows.push(
      `| ${s.label} | ${backend} | ${THREADS} | ${median(one).toFixed(1)} | ${
        median(cut).toFixed(1)
      } | ${median(ratio).toFixed(2)}x |`,
    );
    console.error(rows.at(-1));
  }
}

console.log(
  `\nTraining step (ms; median of ${PAIRS} alternating pairs of processes): one query block against ${BLOCKS}\n`,
);
console.log(`| shape | backend | threads | 1 block | ${BLOCKS} blocks | speed-up |`);
console.log("| --- | --- | ---: | ---: | ---: | ---: |");
for (const r of rows) console.log(r);
