/**
 * Where a native training step's time goes, so that the next person sees what to fuse. For each
 * shape it times the ORT trainer's step (forward, backward and prefix backward in one ORT run,
 * then AdamW in TypeScript) with the intra-op thread count pinned, then profiles one more step
 * with ORT's own profiler and sums the nodes' kernel time by operator type. From the profiled
 * MatMul/Gemm shapes it counts the step's matmul GFLOP, and reports the step's GFLOP/s and its
 * share of this machine's matmul rate: the best one-node ORT MatMul at the same thread count,
 * timed in the same run (1024³, and each shape's own [B·T, d] x [d, 4d]), in three rounds before
 * the shapes and one after them (a process's first matmuls can run at a third of the rate).
 *
 * Shapes: `small1`/`small4` (a GPT-2-small-shaped model with random weights, 12 x 768, vocabulary
 * 50257, written to a temporary folder; B=1/4, T=64, P=10, residual + gate, m=512) and `stories`
 * (the embedded stories260K at the main job's settings: B=8, T=160, P=20).
 *
 * `--masked F` makes the first F of each row prompt (label -100, no loss), as in E2E-like data
 * (default: only the first token).
 *
 * Usage: deno run -A bench/train_profile_bench.ts [--shapes small1,small4,stories]
 *        [--threads N] [--steps 3] [--top 12] [--masked 0]
 */
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-node";
import { type LoadedModel, loadModel } from "../src/model/mod.ts";
import { PrefixModule } from "../src/prefix/mod.ts";
import { OrtPrefixTrainer } from "../src/train/mod.ts";
import { matmulModel, median } from "./_measure.ts";
import { GPT2_SMALL, writeRandomGpt2 } from "../tests/gpu/_random_gpt2.ts";
import { STORIES } from "../tests/_fixtures.ts";
import { printHelpIfAsked } from "./_help.ts";

printHelpIfAsked(import.meta.url);
const values = parseArgs({
  args: Deno.args,
  options: {
    shapes: { type: "string", default: "small1,small4,stories" },
    threads: { type: "string", default: String(navigator.hardwareConcurrency) },
    steps: { type: "string", default: "3" },
    top: { type: "string", default: "12" },
    masked: { type: "string", default: "0" },
  },
}).values;
const THREADS = Number(values.threads), STEPS = Number(values.steps), TOP = Number(values.top);
/** The share of each row's first tokens that are prompt (label -100), as in E2E-like data. */
const MASKED = Number(values.masked);

interface Shape {
  label: string;
  model: "small" | "stories";
  B: number;
  T: number;
  P: number;
  mid: number;
}
const SHAPES: Record<string, Shape> = {
  small1: { label: "gpt2-small B=1 T=64 P=10", model: "small", B: 1, T: 64, P: 10, mid: 512 },
  small4: { label: "gpt2-small B=4 T=64 P=10", model: "small", B: 4, T: 64, P: 10, mid: 512 },
  stories: { label: "stories260K B=8 T=160 P=20", model: "stories", B: 8, T: 160, P: 20, mid: 512 },
};
const shapes = values.shapes.split(",").map((s) => {
  const shape = SHAPES[s.trim()];
  if (!shape) {
    console.error(`Cannot run the benchmark: unknown shape "${s}" (${Object.keys(SHAPES)})`);
    Deno.exit(2);
  }
  return shape;
});
if (![THREADS, STEPS, TOP].every((v) => Number.isInteger(v) && v >= 1)) {
  console.error("Cannot run the benchmark: --threads, --steps and --top must be positive integers");
  Deno.exit(2);
}

/** GFLOP/s of a one-node ORT MatMul [M, K] x [K, N] at THREADS threads, best of 20 after a warm-up. */
async function matmulRate(M: number, K: number, N: number): Promise<number> {
  const session = await ort.InferenceSession.create(matmulModel(M, K, N), {
    intraOpNumThreads: THREADS,
    executionProviders: ["cpu"],
  });
  const x = new ort.Tensor("float32", new Float32Array(M * K).fill(0.5), [M, K]);
  const w = new ort.Tensor("float32", new Float32Array(K * N).fill(0.25), [K, N]);
  let best = Infinity;
  for (let i = 0; i < 21; i++) {
    const t = performance.now();
    const out = await session.run({ X: x, W: w });
    const s = (performance.now() - t) / 1000;
    out.Y.dispose?.();
    if (i > 0) best = Math.min(best, s);
  }
  await session.release();
  return (2 * M * K * N) / best / 1e9;
}

function batchFor(model: LoadedModel, b: number, t: number) {
  const V = model.config.vocabSize;
  const inputIds = Array.from(
    { length: b },
    (_, r) => Array.from({ length: t }, (_, i) => (r * 7919 + i * 104729) % V),
  );
  const prompt = Math.max(1, Math.round(MASKED * t));
  return { inputIds, labels: inputIds.map((row) => row.map((id, i) => (i < prompt ? -100 : id))) };
}

interface TraceEvent {
  cat: string;
  name: string;
  ts: number;
  dur: number;
  args?: {
    op_name?: string;
    input_type_shape?: Record<string, number[]>[];
    output_type_shape?: Record<string, number[]>[];
  };
}

const dimsOf = (shape: Record<string, number[]> | undefined) =>
  shape ? Object.values(shape)[0] ?? [] : [];
const size = (d: number[]) => d.reduce((a, b) => a * b, 1);

/** Multiply-add FLOPs of a MatMul-like node from the shapes ORT recorded, or 0. */
function matmulFlops(e: TraceEvent): number {
  const op = e.args?.op_name ?? "";
  if (!["MatMul", "FusedMatMul", "Gemm"].includes(op)) return 0;
  const a = dimsOf(e.args?.input_type_shape?.[0]);
  const o = dimsOf(e.args?.output_type_shape?.[0]);
  if (a.length < 2 || o.length < 2) return 0;
  const M = o[o.length - 2];
  if (op === "Gemm") return 2 * size(o) * (size(a) / M);
  // A is [..., M, K], or [..., K, M] when transposed (FusedMatMul's transA).
  const K = a[a.length - 1] !== M ? a[a.length - 1] : a[a.length - 2];
  return 2 * size(o) * K;
}

/** The node events of the profile's last run (`model_run`), summed by op type. */
function lastRunByOp(events: TraceEvent[]) {
  const runs = events.filter((e) => e.name === "model_run");
  const last = runs.at(-1);
  if (!last) throw new Error("the profile has no model_run event");
  const nodes = events.filter((e) =>
    e.cat === "Node" && e.name.endsWith("_kernel_time") && e.ts >= last.ts &&
    e.ts <= last.ts + last.dur
  );
  const byOp = new Map<string, { us: number; count: number; flops: number }>();
  for (const e of nodes) {
    const op = e.args?.op_name ?? "?";
    const r = byOp.get(op) ?? { us: 0, count: 0, flops: 0 };
    r.us += e.dur;
    r.count++;
    r.flops += matmulFlops(e);
    byOp.set(op, r);
  }
  return { runUs: last.dur, byOp };
}

async function profileShape(model: LoadedModel, s: Shape, tmp: string) {
  const pmFor = () =>
    PrefixModule.init(model.config, {
      prefixLen: s.P,
      reparam: "residual",
      gate: true,
      midDim: s.mid,
      seed: 1,
    });
  const batch = batchFor(model, s.B, s.T);
  const limits = { maxBatch: s.B, maxLen: s.T, backend: "native" as const, threads: THREADS };

  // Timed steps, profiler off.
  const timed = await OrtPrefixTrainer.create(model, pmFor(), limits);
  const stepS: number[] = [], runS: number[] = [];
  try {
    for (let i = 0; i <= STEPS; i++) {
      const t0 = performance.now();
      await timed.accumulate(batch);
      const t1 = performance.now();
      await timed.step({ lr: 1e-3 });
      if (i > 0) {
        stepS.push((performance.now() - t0) / 1000);
        runS.push((t1 - t0) / 1000);
      }
    }
  } finally {
    timed.destroy();
  }

  // The profiled trainer warms up as the timed one did; its last run is the one read.
  const prefix = `${tmp}/profile-${s.model}-${s.B}`;
  const profiled = await OrtPrefixTrainer.create(model, pmFor(), {
    ...limits,
    profileFilePrefix: prefix,
  });
  try {
    for (let i = 0; i <= STEPS; i++) {
      await profiled.accumulate(batch);
      await profiled.step({ lr: 1e-3 });
    }
    profiled.endProfiling();
  } finally {
    profiled.destroy();
  }
  const file = [...Deno.readDirSync(tmp)].map((e) => `${tmp}/${e.name}`)
    .find((p) => p.startsWith(prefix) && p.endsWith(".json"));
  if (!file) throw new Error(`ORT wrote no profile starting with ${prefix}`);
  const profile = lastRunByOp(JSON.parse(await Deno.readTextFile(file)) as TraceEvent[]);
  return { stepS: median(stepS), runS: median(runS), ...profile };
}

const tmp = await Deno.makeTempDir({ prefix: "train-profile-" });
/** Each shape's model, written (GPT-2 small) and loaded once. */
const models = new Map<Shape["model"], Promise<LoadedModel>>();
const modelFor = (s: Shape) => {
  let m = models.get(s.model);
  if (!m) {
    m = s.model === "stories"
      ? loadModel(STORIES)
      : writeRandomGpt2(`${tmp}/gpt2-small`, GPT2_SMALL)
        .then(() => loadModel(`${tmp}/gpt2-small`));
    models.set(s.model, m);
  }
  return m;
};
/**
 * The one-node MatMul rates of 1024³ and each shape's own [B·T, d] x [d, 4d], best of `rounds`
 * rounds (ORT's 1024³ is not its best shape on every machine).
 */
async function matmulRates(rounds: number): Promise<Map<string, number>> {
  const rates = new Map<string, number>();
  const keep = async (M: number, K: number, N: number) => {
    const key = `${M}x${K}x${N}`;
    rates.set(key, Math.max(rates.get(key) ?? 0, await matmulRate(M, K, N)));
  };
  for (let r = 0; r < rounds; r++) {
    await keep(1024, 1024, 1024);
    for (const s of shapes) {
      const d = (await modelFor(s)).config.hiddenSize;
      await keep(s.B * s.T, d, 4 * d);
    }
  }
  return rates;
}

try {
  // The machine's matmul rate: the best one-node MatMul of the run. A process's first matmuls
  // ran at a third of the rate on the machine of bench/RESULTS.md, so the rates are measured in
  // three rounds before the shapes and once more after them, and the best counts.
  const before = await matmulRates(3);
  const profiles = [];
  for (const s of shapes) profiles.push(await profileShape(await modelFor(s), s, tmp));
  const after = await matmulRates(1);
  const rates = new Map([...before].map(([k, r]) => [k, Math.max(r, after.get(k) ?? 0)]));
  const machine = Math.max(...rates.values());
  console.log(
    `\nORT intra-op threads: ${THREADS} (pinned, for the trainer and the MatMul alike); ${navigator.hardwareConcurrency} cores`,
  );
  console.log(
    `one-node ORT MatMul (MxKxN), best before and after the shapes: ${
      [...rates].map(([k, r]) => `${k} ${r.toFixed(1)}`).join(", ")
    } GFLOP/s; the machine's rate: ${machine.toFixed(1)} GFLOP/s\n`,
  );
  for (const [i, s] of shapes.entries()) {
    const p = profiles[i];
    const nodeUs = [...p.byOp.values()].reduce((a, r) => a + r.us, 0);
    const flops = [...p.byOp.values()].reduce((a, r) => a + r.flops, 0);
    const mmUs = [...p.byOp.entries()].filter(([op]) => /MatMul|Gemm/.test(op))
      .reduce((a, [, r]) => a + r.us, 0);
    console.log(`### ${s.label}${MASKED > 0 ? `, the first ${MASKED} of each row masked` : ""}\n`);
    console.log("| measure | value |");
    console.log("| --- | ---: |");
    console.log(`| step (ORT run + AdamW), median of ${STEPS} | ${p.stepS.toFixed(3)} s |`);
    console.log(`| ORT run (forward + backward) | ${p.runS.toFixed(3)} s |`);
    console.log(`| matmul work per step (profiled shapes) | ${(flops / 1e9).toFixed(2)} GFLOP |`);
    console.log(`| step rate | ${(flops / p.stepS / 1e9).toFixed(1)} GFLOP/s |`);
    console.log(
      `| step's share of the machine's matmul rate (${machine.toFixed(1)} GFLOP/s) | ${
        (100 * flops / p.stepS / 1e9 / machine).toFixed(0)
      }% |`,
    );
    console.log(
      `| matmul nodes' own rate (their kernel time only) | ${
        (flops / (mmUs / 1e6) / 1e9).toFixed(1)
      } GFLOP/s |`,
    );
    console.log(`\nThe profiled run (${(p.runUs / 1000).toFixed(1)} ms), by operator:\n`);
    console.log("| op | nodes | ms | share of node time | GFLOP |");
    console.log("| --- | ---: | ---: | ---: | ---: |");
    const rows = [...p.byOp.entries()].sort((a, b) => b[1].us - a[1].us);
    for (const [op, r] of rows.slice(0, TOP)) {
      console.log(
        `| ${op} | ${r.count} | ${(r.us / 1000).toFixed(1)} | ${
          (100 * r.us / nodeUs).toFixed(1)
        }% | ${r.flops ? (r.flops / 1e9).toFixed(2) : ""} |`,
      );
    }
    const rest = rows.slice(TOP).reduce((a, [, r]) => a + r.us, 0);
    if (rest > 0) {
      console.log(
        `| (${rows.length - TOP} others) | | ${(rest / 1000).toFixed(1)} | ${
          (100 * rest / nodeUs).toFixed(1)
        }% | |`,
      );
    }
    console.log(
      `\nNode time ${(nodeUs / 1000).toFixed(1)} ms of the run's ${
        (p.runUs / 1000).toFixed(1)
      } ms (the rest is ORT's scheduling, copies and memory).\n`,
    );
  }
} finally {
  await Deno.remove(tmp, { recursive: true });
}
