/**
 * Transparent huge pages for ONNX Runtime's weights and activations, measured: each workload runs
 * in alternating pairs of processes, one with glibc's default `malloc` and one with
 * `GLIBC_TUNABLES=glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=33554432`. With it `malloc`
 * asks the kernel for 2 MiB pages (`madvise(MADV_HUGEPAGE)`) where the machine's transparent huge
 * pages are in `madvise` mode, the default of many distributions; the fixed threshold keeps glibc
 * from moving it as blocks are freed. Each run prints its minor page faults, which show whether
 * the pages were huge in that process (a few thousand against hundreds of thousands).
 *
 * Workloads (native ONNX Runtime, `--threads` intra-op threads):
 * - `decode-f32-1`, `decode-f32-4`, `decode-q4-1`: greedy decoding of 64 tokens after an
 *   8-token prompt with `InferenceEngine.generateBatch` at batch 1 or 4, on a GPT-2-small-shaped
 *   model with random weights exported as f32 or q4; tokens/s.
 * - `train-small4`: a training step (forward, backward, AdamW) on the same model, B=4, T=64, P=10;
 *   `train-stories`: stories260K at the main job's shape (B=8, 110 tokens, P=20); ms a step.
 *
 * For each side: the median over the pairs, the process's minor page faults and its peak RSS.
 * Linux only (it reads /proc and needs glibc 2.35 or later for the tunable).
 *
 * Usage: deno run -A bench/huge_pages_bench.ts [--pairs 3] [--threads 2]
 *        [--workloads decode-f32-1,decode-f32-4,decode-q4-1,train-small4,train-stories]
 */
import { parseArgs } from "node:util";
import { loadModel } from "../src/model/mod.ts";
import { exportOnnx } from "../src/onnx/mod.ts";
import { PrefixModule } from "../src/prefix/mod.ts";
import { OrtPrefixTrainer } from "../src/train/mod.ts";
import { GPT2_SMALL, writeRandomGpt2 } from "../tests/gpu/_random_gpt2.ts";
import { STORIES } from "../tests/_fixtures.ts";
import { printHelpIfAsked } from "./_help.ts";
import { engineDecode, median, peakRss, runCommand } from "./_measure.ts";

printHelpIfAsked(import.meta.url);
const values = parseArgs({
  args: Deno.args,
  options: {
    pairs: { type: "string", default: "3" },
    threads: { type: "string", default: String(navigator.hardwareConcurrency) },
    workloads: {
      type: "string",
      default: "decode-f32-1,decode-f32-4,decode-q4-1,train-small4,train-stories",
    },
    child: { type: "string" }, // internal: "<workload>:<model folder>"
  },
}).values;
const PAIRS = Number(values.pairs), THREADS = Number(values.threads);
const TUNABLE = "glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=33554432";

/** Minor page faults of this process so far (/proc/self/stat, field 10). */
function minorFaults(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[7]);
}

/** Greedy decoding at batch B: tokens/s over 64 steps after an 8-token prompt. */
async function decode(dir: string, B: number): Promise<number> {
  const rows = Array.from(
    { length: B },
    (_, b) => Array.from({ length: 8 }, (_, t) => 100 + t * 7 + b),
  );
  return (await engineDecode(dir, rows, 64, THREADS)).tokensPerSec;
}

/** The median training step in ms (the first third of each row is prompt, as in the main job). */
async function trainStep(dir: string, B: number, T: number, P: number, steps: number) {
  const model = await loadModel(dir);
  const V = model.config.vocabSize;
  const inputIds = Array.from(
    { length: B },
    (_, r) => Array.from({ length: T }, (_, i) => (r * 7919 + i * 104729) % V),
  );
  const batch = {
    inputIds,
    labels: inputIds.map((row) => row.map((id, i) => (i < T / 3 ? -100 : id))),
  };
  const trainer = await OrtPrefixTrainer.create(
    model,
    PrefixModule.init(model.config, { prefixLen: P, reparam: "residual", gate: true, seed: 1 }),
    { maxBatch: B, maxLen: T, backend: "native", threads: THREADS },
  );
  try {
    const times: number[] = [];
    for (let i = 0; i < 2 + steps; i++) {
      const t0 = performance.now();
      await trainer.accumulate(batch);
      await trainer.step({ lr: 1e-3 });
      if (i >= 2) times.push(performance.now() - t0);
    }
    return median(times);
  } finally {
    trainer.destroy();
  }
}

/** A workload: what it measures, whether more is better, which folder it reads, how it runs. */
interface Workload {
  unit: string;
  higherIsBetter: boolean;
  /** The model folder: the GPT-2-small-shaped model exported as f32 or q4, its checkpoint alone
   * (`small`), or stories260K. */
  folder: "f32" | "q4" | "small" | "stories";
  run: (dir: string) => Promise<number>;
}
const WORKLOADS: Record<string, Workload> = {
  "decode-f32-1": {
    unit: "tokens/s",
    higherIsBetter: true,
    folder: "f32",
    run: (d) => decode(d, 1),
  },
  "decode-f32-4": {
    unit: "tokens/s",
    higherIsBetter: true,
    folder: "f32",
    run: (d) => decode(d, 4),
  },
  "decode-q4-1": { unit: "tokens/s", higherIsBetter: true, folder: "q4", run: (d) => decode(d, 1) },
  "train-small4": {
    unit: "ms a step",
    higherIsBetter: false,
    folder: "small",
    run: (d) => trainStep(d, 4, 64, 10, 6),
  },
  "train-stories": {
    unit: "ms a step",
    higherIsBetter: false,
    folder: "stories",
    run: (d) => trainStep(d, 8, 110, 20, 24),
  },
};

async function child(spec: string) {
  const [name, dir] = spec.split(/:(.*)/s);
  const value = await WORKLOADS[name].run(dir);
  console.log(JSON.stringify({ value, faults: minorFaults(), peak: peakRss() }));
}

async function parent() {
  const names = values.workloads!.split(",");
  for (const n of names) {
    if (!WORKLOADS[n]) {
      console.error(`Cannot run the benchmark: unknown workload ${n} (${Object.keys(WORKLOADS)})`);
      Deno.exit(2);
    }
  }
  const tmp = await Deno.makeTempDir({ prefix: "huge-pages-bench-" });
  try {
    // Only the folders the chosen workloads read (the GPT-2 checkpoint alone is 500 MB).
    const needed = new Set(names.map((n) => WORKLOADS[n].folder));
    const folders: Record<Workload["folder"], string> = {
      f32: `${tmp}/f32`,
      q4: `${tmp}/q4`,
      small: `${tmp}/small`,
      stories: STORIES,
    };
    if (needed.has("f32") || needed.has("q4") || needed.has("small")) {
      await writeRandomGpt2(folders.small, GPT2_SMALL);
    }
    for (const dtype of ["f32", "q4"] as const) {
      if (!needed.has(dtype)) continue;
      const dir = folders[dtype];
      await Deno.mkdir(dir);
      for (const f of ["config.json", "model.safetensors"]) {
        await Deno.link(`${folders.small}/${f}`, `${dir}/${f}`);
      }
      await exportOnnx(dir, { dtype, out: `${dir}/onnx/model.onnx` });
    }
    // The default side runs with GLIBC_TUNABLES removed, whatever this process was given.
    const plainEnv = Object.fromEntries(
      Object.entries(Deno.env.toObject()).filter(([k]) => k !== "GLIBC_TUNABLES"),
    );
    const sides = [
      { label: "default malloc", env: plainEnv },
      { label: TUNABLE, env: { ...plainEnv, GLIBC_TUNABLES: TUNABLE } },
    ];
    type Run = { value: number; faults: number; peak: number };
    const runs = new Map<string, Run[][]>();
    for (let pair = 0; pair < PAIRS; pair++) {
      for (const name of names) {
        const pairRuns: Run[] = [];
        for (const s of sides) {
          const r = await runCommand(
            Deno.execPath(),
            [
              "run",
              "-A",
              new URL(import.meta.url).pathname,
              "--threads",
              String(THREADS),
              "--child",
              `${name}:${folders[WORKLOADS[name].folder]}`,
            ],
            s.env,
            true,
          );
          const last = r.text.trim().split("\n").at(-1) ?? "";
          if (!r.ok || !last.startsWith("{")) {
            throw new Error(`${name} (${s.label}) failed: ${r.err.slice(-800)}`);
          }
          pairRuns.push(JSON.parse(last));
        }
        runs.set(name, [...(runs.get(name) ?? []), pairRuns]);
        console.error(
          `pair ${pair + 1} ${name}: ${
            pairRuns.map((x) => `${x.value.toFixed(1)} (${x.faults} faults)`).join(" / ")
          }`,
        );
      }
    }
    console.log(
      `\nnative ONNX Runtime, ${THREADS} intra-op threads; medians of ${PAIRS} alternating pairs\n`,
    );
    console.log(
      "| workload | unit | default | huge pages | speed-up (median of pairs) | minor faults default | huge pages | peak RSS MB default | huge pages |",
    );
    console.log("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (const name of names) {
      const pairs = runs.get(name)!;
      const { unit, higherIsBetter } = WORKLOADS[name];
      const col = (i: number, k: keyof Run) => median(pairs.map((p) => p[i][k]));
      const speedUp = median(
        pairs.map(([a, b]) => higherIsBetter ? b.value / a.value : a.value / b.value),
      );
      console.log(
        `| ${name} | ${unit} | ${col(0, "value").toFixed(1)} | ${col(1, "value").toFixed(1)} | ${
          speedUp.toFixed(2)
        }x | ${col(0, "faults")} | ${col(1, "faults")} | ${
          (col(0, "peak") / 2 ** 20).toFixed(0)
        } | ${(col(1, "peak") / 2 ** 20).toFixed(0)} |`,
      );
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

if (values.child) await child(values.child);
else await parent();
