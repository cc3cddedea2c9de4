/**
 * One training step (forward + backward + prefix backward + clipped AdamW) on each training
 * backend, and PyTorch on the CPU in the same run: step time, tokens/s and peak RSS, as one
 * table. Shapes: a GPT-2-small-shaped model with random weights (12 x 768, 12 heads,
 * vocabulary 50257; built in memory) at B=1 and B=4, T=64, P=10, residual + gate, m=512;
 * and the embedded stories260K at the main job's settings (B=8, T=160, P=20, residual +
 * gate, m=512). Each backend runs in its own process, so its peak RSS is its own.
 *
 * PyTorch is the outside reference ../shared/reference/bench_torch_step.py (not part of the
 * project), run with /usr/bin/python3 with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset.
 *
 * Thread counts are pinned and printed on both sides: `--threads N` (default: the machine's
 * cores) is ONNX Runtime's intra-op thread count for the native backend and PyTorch's
 * `set_num_threads`. With `--pairs K`, each shape runs K alternating (native, PyTorch) pairs, and
 * the table gives each side's median and the median of the pairs' ratios, so that load that
 * comes and goes hits both alike.
 *
 * Usage: deno run -A bench/train_backend_bench.ts [--shapes small1,small4,stories]
 *        [--backends native,wasm,webgpu] [--steps 3] [--threads N] [--pairs 1] [--no-torch]
 *        [--torch-script PATH]
 */
import { parseArgs } from "node:util";
import { loadModel } from "../src/model/mod.ts";
import type { LoadedModel } from "../src/model/mod.ts";
import type { TrainingBackend } from "../src/train/mod.ts";
import { GPT2_SMALL, writeRandomGpt2 } from "../tests/gpu/_random_gpt2.ts";
import { STORIES } from "../tests/_fixtures.ts";
import { printHelpIfAsked } from "./_help.ts";
import {
  median,
  peakRss,
  runChild,
  runCommand,
  timeTrainStep,
  TORCH_STEP_SCRIPT,
  torchStep,
} from "./_measure.ts";

printHelpIfAsked(import.meta.url);

interface Shape {
  label: string;
  model: "small" | "stories";
  torchModel: string;
  B: number;
  T: number;
  P: number;
  mid: number;
}

const SHAPES: Record<string, Shape> = {
  small1: {
    label: "gpt2-small B=1",
    model: "small",
    torchModel: "gpt2-small",
    B: 1,
    T: 64,
    P: 10,
    mid: 512,
  },
  small4: {
    label: "gpt2-small B=4",
    model: "small",
    torchModel: "gpt2-small",
    B: 4,
    T: 64,
    P: 10,
    mid: 512,
  },
  stories: {
    label: "stories260K B=8 P=20",
    model: "stories",
    torchModel: "stories260k",
    B: 8,
    T: 160,
    P: 20, // the main job's shape (src/train/main_job.ts)
    mid: 512,
  },
};

const { values } = parseArgs({
  args: Deno.args,
  options: {
    shapes: { type: "string", default: "small1,small4,stories" },
    backends: { type: "string", default: "native,wasm,webgpu" },
    steps: { type: "string", default: "3" },
    threads: { type: "string", default: String(navigator.hardwareConcurrency) },
    pairs: { type: "string", default: "1" },
    "no-torch": { type: "boolean", default: false },
    "torch-script": {
      type: "string",
      default: TORCH_STEP_SCRIPT,
    },
    child: { type: "string" }, // internal: "<shape>:<backend>"
    "model-dir": { type: "string" }, // internal: the GPT-2-small folder
    "write-small": { type: "string" }, // internal: write the GPT-2-small folder here
    help: { type: "boolean", short: "h" },
  },
});
const steps = Number(values.steps), threads = Number(values.threads);
const pairs = Number(values.pairs);
if (![steps, threads, pairs].every((v) => Number.isInteger(v) && v >= 1)) {
  console.error(
    "Cannot run the benchmark: --steps, --threads and --pairs must be positive integers",
  );
  Deno.exit(2);
}

/** Loaded from a folder, as users load models (the GPT-2-small one is written by another process). */
async function loadShapeModel(s: Shape): Promise<LoadedModel> {
  return await loadModel(s.model === "stories" ? STORIES : values["model-dir"]!);
}

/** In a child process: time `steps` steps of one shape on one backend; print one JSON line. */
async function child(shapeName: string, backend: TrainingBackend) {
  const s = SHAPES[shapeName];
  const model = await loadShapeModel(s);
  const { stepS, setupS } = await timeTrainStep(model, s, backend, steps, threads);
  console.log(JSON.stringify({ stepS, setupS, peakRss: peakRss() }));
}

interface Row {
  shape: string;
  runner: string;
  /** Which alternating pair it ran in. */
  pair: number;
  stepS: number | null;
  tokensPerS: number | null;
  peakRss: number | null;
  note: string;
}

async function parent() {
  const shapes = values.shapes!.split(",");
  let smallDir: string | undefined;
  if (shapes.some((n) => SHAPES[n]?.model === "small")) {
    // Written by another process, so that no process measured below ever held the weights.
    smallDir = await Deno.makeTempDir({ prefix: "gpt2-small-random-" });
    const w = await runCommand(Deno.execPath(), [
      "run",
      "-A",
      new URL(import.meta.url).pathname,
      "--write-small",
      smallDir,
    ]);
    if (!w.ok) {
      console.error(`Cannot write the GPT-2-small folder: ${w.err}`);
      Deno.exit(1);
    }
  }
  try {
    await measure(shapes, smallDir);
  } finally {
    if (smallDir) await Deno.remove(smallDir, { recursive: true });
  }
}

async function measure(shapes: string[], smallDir: string | undefined) {
  const rows: Row[] = [];
  const backends = values.backends!.split(",") as TrainingBackend[];
  for (const name of shapes) {
    const s = SHAPES[name];
    if (!s) {
      console.error(`Cannot run the benchmark: unknown shape ${name} (${Object.keys(SHAPES)})`);
      Deno.exit(2);
    }
    const tokens = s.B * s.T;
    for (let pair = 0; pair < pairs; pair++) {
      for (const backend of backends) {
        const r = await runChild(import.meta.url, [
          "--child",
          `${name}:${backend}`,
          "--steps",
          String(steps),
          "--threads",
          String(threads),
          ...(smallDir ? ["--model-dir", smallDir] : []),
        ]);
        rows.push(
          "json" in r
            ? {
              shape: s.label,
              runner: backend === "webgpu" ? backend : `${backend} (${threads} threads)`,
              pair,
              stepS: r.json.stepS,
              tokensPerS: tokens / r.json.stepS,
              peakRss: r.json.peakRss,
              note: `setup ${r.json.setupS.toFixed(1)} s`,
            }
            : {
              shape: s.label,
              runner: backend,
              pair,
              stepS: null,
              tokensPerS: null,
              peakRss: null,
              note: `failed: ${r.error}`,
            },
        );
        console.error(`done: ${s.label} on ${backend} (pair ${pair + 1} of ${pairs})`);
      }
      if (!values["no-torch"]) {
        const t = await torchStep(values["torch-script"]!, s.torchModel, { ...s, threads }, steps);
        rows.push(
          "error" in t
            ? {
              shape: s.label,
              runner: "pytorch",
              pair,
              stepS: null,
              tokensPerS: null,
              peakRss: null,
              note: `failed: ${t.error}`,
            }
            : { shape: s.label, ...t, pair, note: "" },
        );
        console.error(`done: ${s.label} on pytorch (pair ${pair + 1} of ${pairs})`);
      }
    }
  }
  const f = (x: number | null, d: number) => (x === null ? "n/a" : x.toFixed(d));
  console.log(
    `| shape | runner | step (s), median of ${pairs} | tokens/s | vs PyTorch (median of pairs) | peak RSS (GB) | note |`,
  );
  console.log("| --- | --- | ---: | ---: | ---: | ---: | --- |");
  const groups = new Map<string, Row[]>();
  for (const r of rows) {
    const k = `${r.shape}\u0000${r.runner}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  for (const group of groups.values()) {
    const { shape, runner } = group[0];
    const ok = group.filter((r) => r.stepS !== null);
    const stepS = ok.length ? median(ok.map((r) => r.stepS!)) : null;
    const torch = rows.filter((t) => t.shape === shape && t.runner.startsWith("pytorch"));
    const ratios = ok.flatMap((r) => {
      const t = torch.find((x) => x.pair === r.pair && x.stepS !== null);
      return t && !runner.startsWith("pytorch") ? [t.stepS! / r.stepS!] : [];
    });
    const rss = ok.map((r) => r.peakRss).filter((x): x is number => x !== null);
    console.log(
      `| ${shape} | ${runner} | ${f(stepS, 3)} | ${
        f(stepS === null ? null : ok[0].tokensPerS! * ok[0].stepS! / stepS, 1)
      } | ${ratios.length ? `${median(ratios).toFixed(2)}x` : ""} | ${
        f(rss.length ? Math.max(...rss) / 2 ** 30 : null, 2)
      } | ${group.find((r) => r.stepS === null)?.note ?? group[0].note} |`,
    );
  }
}

if (values["write-small"]) {
  await writeRandomGpt2(values["write-small"], GPT2_SMALL);
} else if (values.child) {
  const [shape, backend] = values.child.split(":");
  await child(shape, backend as TrainingBackend);
} else {
  await parent();
}
