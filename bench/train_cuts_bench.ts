/**
 * How the training graph cuts its largest products (src/train/ort/ops.ts), measured: for each
 * shape and backend, `--pairs` alternating pairs of processes, one with the product whole and one
 * cut into `--count` pieces, each in its own process (so that two ORT thread pools never compete
 * and each peak RSS is its own), each timing the median of `--steps` steps (forward, backward and
 * AdamW) on the same batch after a warm-up. The table gives each side's median step and peak RSS
 * over the pairs and the median of the pairs' step ratios.
 *
 * `--cut blocks`: the causal attention in query blocks (`attentionQueryBlocks`, default count 4).
 * `--cut head`: the LM head's loss in row chunks (`headRowChunks`, default count 2).
 *
 * Shapes: `stories` (the embedded stories260K at the main job's settings: B=8, P=20, residual +
 * gate, rows of `--tokens` tokens, 110 by default, the median length of pet-stories' batches),
 * `small4` and `small8` (a GPT-2-small-shaped model with random weights, B=4 or 8, T=64, P=10,
 * m=512).
 *
 * Usage: deno run -A bench/train_cuts_bench.ts [--cut blocks|head] [--shapes stories,small4]
 *        [--backends native,wasm] [--threads 1] [--count N] [--steps 32] [--tokens 110]
 *        [--pairs 3]
 */
import { parseArgs } from "node:util";
import { type LoadedModel, loadModel } from "../src/model/mod.ts";
import { PrefixModule } from "../src/prefix/mod.ts";
import { OrtPrefixTrainer } from "../src/train/mod.ts";
import { GPT2_SMALL, writeRandomGpt2 } from "../tests/gpu/_random_gpt2.ts";
import { STORIES } from "../tests/_fixtures.ts";
import { printHelpIfAsked } from "./_help.ts";
import { median, peakRss } from "./_measure.ts";

printHelpIfAsked(import.meta.url);
const values = parseArgs({
  args: Deno.args,
  options: {
    shapes: { type: "string", default: "stories,small4" },
    backends: { type: "string", default: "native,wasm" },
    cut: { type: "string", default: "blocks" },
    threads: { type: "string", default: "1" },
    count: { type: "string" },
    steps: { type: "string", default: "32" },
    tokens: { type: "string", default: "110" },
    pairs: { type: "string", default: "3" },
    // Internal: one side of one pair, "shape:backend:count"; prints its median step (ms) and
    // peak RSS.
    child: { type: "string" },
  },
}).values;
const CUT = values.cut;
if (CUT !== "blocks" && CUT !== "head") {
  console.error(`Cannot run the benchmark: --cut must be blocks or head, got "${CUT}"`);
  Deno.exit(2);
}
const [THREADS, COUNT, STEPS, TOKENS, PAIRS] = [
  values.threads,
  values.count ?? (CUT === "blocks" ? "4" : "2"),
  values.steps,
  values.tokens,
  values.pairs,
].map(Number);
if (![THREADS, COUNT, STEPS, TOKENS, PAIRS].every((v) => Number.isInteger(v) && v >= 1)) {
  console.error(
    "Cannot run the benchmark: --threads, --count, --steps, --tokens and --pairs must be positive integers",
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
  ...Object.fromEntries([4, 8].map((B) => [`small${B}`, {
    label: `gpt2-small B=${B} T=64 P=10`,
    B,
    T: 64,
    P: 10,
    // A GPT-2-small step takes about a second: fewer of them.
    steps: Math.max(4, Math.round(STEPS / 4)),
    load: async () => {
      smallDir = await Deno.makeTempDir({ prefix: "train-cuts-bench-" });
      await writeRandomGpt2(smallDir, GPT2_SMALL);
      return loadModel(smallDir);
    },
  }])),
};

/** One side of a pair: the median step (ms) of one trainer, and the process's peak RSS (bytes). */
async function timeOne(name: string, backend: "native" | "wasm", count: number) {
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
      {
        maxBatch: s.B,
        maxLen: s.T,
        backend,
        threads: THREADS,
        ...(CUT === "blocks" ? { queryBlocks: count } : { headChunks: count }),
      },
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
    return { ms: median(times), peak: peakRss() };
  } finally {
    if (smallDir) await Deno.remove(smallDir, { recursive: true });
  }
}

if (values.child) {
  const [name, backend, count] = values.child.split(":");
  console.log(JSON.stringify(await timeOne(name, backend as "native" | "wasm", Number(count))));
  Deno.exit(0);
}

async function side(
  name: string,
  backend: string,
  count: number,
): Promise<{ ms: number; peak: number }> {
  const args = [
    "run",
    "-A",
    new URL(import.meta.url).pathname,
    ...Object.entries({ ...values, child: `${name}:${backend}:${count}` })
      .flatMap(([k, v]) => [`--${k}`, String(v)]),
  ];
  const out = await new Deno.Command(Deno.execPath(), { args, stderr: "inherit" }).output();
  if (!out.success) throw new Error(`the ${name} ${backend} run cut in ${count} failed`);
  return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
}

const rows: string[] = [];
const what = CUT === "blocks" ? "query blocks" : "LM-head row chunks";
const gb = (bytes: number) => (bytes / 2 ** 30).toFixed(2);
for (const name of values.shapes.split(",").map((n) => n.trim())) {
  const s = SHAPES[name];
  if (!s) {
    console.error(`Cannot run the benchmark: unknown shape "${name}" (${Object.keys(SHAPES)})`);
    Deno.exit(2);
  }
  for (const backend of values.backends.split(",")) {
    const one: { ms: number; peak: number }[] = [], cut: typeof one = [], ratio: number[] = [];
    for (let p = 0; p < PAIRS; p++) {
      one.push(await side(name, backend, 1));
      cut.push(await side(name, backend, COUNT));
      ratio.push(one[p].ms / cut[p].ms);
    }
    const ms = (xs: typeof one) => median(xs.map((x) => x.ms)).toFixed(1);
    const peak = (xs: typeof one) => gb(median(xs.map((x) => x.peak)));
    rows.push(
      `| ${s.label} | ${backend} | ${THREADS} | ${ms(one)} | ${ms(cut)} | ${
        median(ratio).toFixed(2)
      }x | ${peak(one)} | ${peak(cut)} |`,
    );
    console.error(rows.at(-1));
  }
}

console.log(
  `\nTraining step (ms) and peak RSS (GiB), medians of ${PAIRS} alternating pairs of processes: 1 against ${COUNT} ${what}\n`,
);
console.log(
  `| shape | backend | threads | step, 1 | step, ${COUNT} | speed-up | peak, 1 | peak, ${COUNT} |`,
);
console.log("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const r of rows) console.log(r);
