/**
 * A Qwen3-0.6B-shaped model with random weights (28 layers, 1024 wide, 16/8 heads, head_dim 128,
 * vocabulary 151936, intermediate 3072, tied embeddings, rope_theta 1e6, q/k norm): decode
 * tokens/s on the native and WASM backends at batch 1 and 8 (every row with its own prefix,
 * P=10, and its own 16-token prompt), one training step (B=1, T=64, P=10, residual + gate,
 * m=512) on the native and WebGPU training backends against PyTorch on the CPU, and each
 * measurement's peak RSS (each runs in its own process).
 *
 * The model is built once into a cache folder: config.json, model.safetensors (f32, about
 * 2.4 GB) and onnx/model.onnx with its external data, written by the project's exporter; later
 * runs reuse it. PyTorch is the outside reference ../shared/reference/bench_torch_step.py
 * (`--model qwen3-0.6b`), run with /usr/bin/python3 with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE
 * unset.
 *
 * `--shape tiny` (2 layers, 64 wide, 4/2 heads, head_dim 32, vocabulary 600) runs every step of
 * the script in seconds; the reference has no such shape, so PyTorch is skipped unless
 * `--torch-model` names one of its shapes (its row then only shows that the call works).
 *
 * Usage: deno run -A bench/qwen3_bench.ts [--shape qwen3-0.6b|tiny] [--cache DIR]
 *        [--decode native,wasm] [--batches 1,8] [--new-tokens N] [--train native,webgpu]
 *        [--steps 3] [--no-torch] [--torch-model NAME] [--torch-script PATH]
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { loadModel, prefixWidth } from "../src/model/mod.ts";
import { type ExecutionProvider, InferenceEngine } from "../src/infer/mod.ts";
import { exportOnnx } from "../src/onnx/mod.ts";
import type { TrainingBackend } from "../src/train/mod.ts";
import { randomLlamaFiles, type RandomLlamaOptions } from "../tests/gpu/_random_llama.ts";
import { randomPrefix } from "../tests/infer/_engines.ts";
import { printHelpIfAsked } from "./_help.ts";
import {
  peakRss,
  runChild,
  type StepShape,
  timeTrainStep,
  TORCH_STEP_SCRIPT,
  torchStep,
} from "./_measure.ts";

printHelpIfAsked(import.meta.url);

interface Shape {
  model: RandomLlamaOptions;
  /** The reference script's name for this shape, if it has one. */
  torchModel?: string;
  /** New tokens per decode row by default. */
  newTokens: number;
  /** Timed training steps by default. */
  steps: number;
  /** Put the weights in the ONNX external data file even below 2 GB (as the full model needs). */
  forceExternalData?: boolean;
}

const SHAPES: Record<string, Shape> = {
  "qwen3-0.6b": {
    model: {
      modelType: "qwen3",
      layers: 28,
      hidden: 1024,
      heads: 16,
      kvHeads: 8,
      headDim: 128,
      intermediate: 3072,
      vocab: 151936,
      positions: 4096,
      ropeTheta: 1e6,
      tie: true,
      seed: 1,
    },
    torchModel: "qwen3-0.6b",
    newTokens: 32,
    steps: 3,
  },
  tiny: {
    model: {
      modelType: "qwen3",
      layers: 2,
      hidden: 64,
      heads: 4,
      kvHeads: 2,
      headDim: 32,
      intermediate: 96,
      vocab: 600,
      positions: 256,
      ropeTheta: 1e6,
      tie: true,
      seed: 1,
    },
    newTokens: 8,
    steps: 1,
    forceExternalData: true,
  },
};

/** The training step of the issue: B=1, T=64, P=10, residual + gate, m=512. */
const STEP: StepShape = { B: 1, T: 64, P: 10, mid: 512 };
const PROMPT_LEN = 16;
const PREFIX_LEN = 10;

const home = Deno.env.get("XDG_CACHE_HOME") ?? join(Deno.env.get("HOME") ?? ".", ".cache");
const { values } = parseArgs({
  args: Deno.args,
  options: {
    shape: { type: "string", default: "qwen3-0.6b" },
    cache: { type: "string", default: join(home, "prefix-edge", "qwen3-bench") },
    decode: { type: "string", default: "native,wasm" },
    batches: { type: "string", default: "1,8" },
    "new-tokens": { type: "string" },
    train: { type: "string", default: "native,webgpu" },
    steps: { type: "string" },
    "no-torch": { type: "boolean", default: false },
    "torch-model": { type: "string" },
    "torch-script": { type: "string", default: TORCH_STEP_SCRIPT },
    child: { type: "string" }, // internal: "decode:<ep>:<batch>" or "train:<backend>"
    help: { type: "boolean", short: "h" },
  },
});

function fail(why: string): never {
  console.error(`Cannot run the benchmark: ${why}`);
  Deno.exit(2);
}

const shape = SHAPES[values.shape!] ??
  fail(`unknown --shape ${values.shape} (one of ${Object.keys(SHAPES).join(", ")})`);
const positive = (v: string | undefined, fallback: number, flag: string) => {
  const n = v === undefined ? fallback : Number(v);
  if (!Number.isInteger(n) || n < 1) fail(`${flag} must be a positive integer, got ${v}`);
  return n;
};
const newTokens = positive(values["new-tokens"], shape.newTokens, "--new-tokens");
const steps = positive(values.steps, shape.steps, "--steps");
const list = (v: string) => v.split(",").filter((x) => x.length > 0);
const batches = list(values.batches!).map((b) => positive(b, 1, "--batches"));
const modelDir = join(values.cache!, values.shape!);

/** Build the random model folder unless the cache holds one made from the same options. */
async function ensureModel(): Promise<void> {
  const stamp = JSON.stringify(shape.model);
  const stampPath = join(modelDir, "bench-model.json");
  try {
    if ((await Deno.readTextFile(stampPath)) === stamp) return;
  } catch { /* not built yet */ }
  await Deno.mkdir(modelDir, { recursive: true });
  console.error(`building ${values.shape} with random weights in ${modelDir}`);
  const { config, safetensors } = randomLlamaFiles(shape.model);
  await Deno.writeTextFile(
    join(modelDir, "config.json"),
    JSON.stringify({ architectures: ["Qwen3ForCausalLM"], ...config }, null, 2),
  );
  await Deno.writeFile(join(modelDir, "model.safetensors"), safetensors);
  const enc = new TextEncoder();
  const tty = Deno.stderr.isTerminal();
  const { externalDataPath } = await exportOnnx(modelDir, {
    dtype: "f32",
    externalDataThreshold: shape.forceExternalData ? 0 : undefined,
    onProgress: ({ done, total }) => {
      if (tty || done === total) {
        Deno.stderr.writeSync(enc.encode(`\rexporting ONNX: ${done}/${total} tensors`));
      }
    },
  });
  console.error(externalDataPath ? `, weights in ${externalDataPath}` : "");
  await Deno.writeTextFile(stampPath, stamp);
}

/** In a child: decode `newTokens` tokens for `B` rows, each with its own prefix and prompt. */
async function childDecode(ep: ExecutionProvider, B: number) {
  const model = await loadModel(modelDir);
  const engine = await InferenceEngine.create(model, { executionProvider: ep });
  try {
    const S = prefixWidth(model.config), V = model.config.vocabSize;
    const rows = (n: number) =>
      Array.from({ length: B }, (_, r) => ({
        inputIds: Array.from({ length: PROMPT_LEN }, (_, i) => (r * 7919 + i * 104729 + 3) % V),
        prefix: randomPrefix(S, PREFIX_LEN, r + 1),
        maxNewTokens: n,
        eosTokenIds: [],
      }));
    await Promise.all(engine.generateBatch(rows(2)).map((s) => s.result)); // warm-up
    const start = performance.now();
    let first = 0;
    const counts = await Promise.all(
      engine.generateBatch(rows(newTokens)).map(async (s) => {
        let n = 0;
        for await (const _ of s) {
          if (first === 0) first = performance.now();
          n++;
        }
        return n;
      }),
    );
    const end = performance.now();
    const decoded = counts.reduce((a, b) => a + b, 0) - B; // tokens after the prefill's
    console.log(JSON.stringify({
      prefillS: (first - start) / 1000,
      decodeS: (end - first) / 1000,
      tokensPerS: decoded / ((end - first) / 1000),
      peakRss: peakRss(),
    }));
  } finally {
    await engine.dispose();
  }
}

/** In a child: time the training step on one backend. */
async function childTrain(backend: TrainingBackend) {
  const model = await loadModel(modelDir);
  const { stepS, setupS } = await timeTrainStep(model, STEP, backend, steps);
  console.log(JSON.stringify({ stepS, setupS, peakRss: peakRss() }));
}

interface Row {
  what: string;
  runner: string;
  seconds: number | null;
  tokensPerS: number | null;
  peakRss: number | null;
  note: string;
}

async function parent() {
  await ensureModel();
  const rows: Row[] = [];
  const failed = (what: string, runner: string, error: string): Row => ({
    what,
    runner,
    seconds: null,
    tokensPerS: null,
    peakRss: null,
    note: `failed: ${error}`,
  });
  const common = ["--shape", values.shape!, "--cache", values.cache!];
  for (const ep of list(values.decode!)) {
    for (const B of batches) {
      const what = `decode B=${B}, ${newTokens} new tokens`;
      const r = await runChild(import.meta.url, [
        ...common,
        "--child",
        `decode:${ep}:${B}`,
        "--new-tokens",
        String(newTokens),
      ]);
      rows.push(
        "json" in r
          ? {
            what,
            runner: ep,
            seconds: r.json.decodeS,
            tokensPerS: r.json.tokensPerS,
            peakRss: r.json.peakRss,
            note: `prefill ${r.json.prefillS.toFixed(2)} s`,
          }
          : failed(what, ep, r.error),
      );
      console.error(`done: ${what} on ${ep}`);
    }
  }
  const stepWhat = `train step B=${STEP.B}, T=${STEP.T}`;
  const tokens = STEP.B * STEP.T;
  for (const backend of list(values.train!)) {
    const r = await runChild(import.meta.url, [
      ...common,
      "--child",
      `train:${backend}`,
      "--steps",
      String(steps),
    ]);
    rows.push(
      "json" in r
        ? {
          what: stepWhat,
          runner: backend,
          seconds: r.json.stepS,
          tokensPerS: tokens / r.json.stepS,
          peakRss: r.json.peakRss,
          note: `setup ${r.json.setupS.toFixed(1)} s`,
        }
        : failed(stepWhat, backend, r.error),
    );
    console.error(`done: ${stepWhat} on ${backend}`);
  }
  const torchModel = values["torch-model"] ?? shape.torchModel;
  if (!values["no-torch"] && torchModel) {
    const t = await torchStep(values["torch-script"]!, torchModel, STEP, steps);
    const note = torchModel === shape.torchModel ? "" : `reference shape ${torchModel}`;
    rows.push(
      "error" in t ? failed(stepWhat, "pytorch", t.error) : {
        what: stepWhat,
        runner: t.runner,
        seconds: t.stepS,
        tokensPerS: t.tokensPerS,
        peakRss: t.peakRss,
        note,
      },
    );
    console.error(`done: ${stepWhat} on pytorch`);
  }
  printTable(rows, torchModel === shape.torchModel);
}

function printTable(rows: Row[], comparable: boolean) {
  const f = (x: number | null, d: number) => (x === null ? "n/a" : x.toFixed(d));
  const torch = rows.find((r) => r.runner.startsWith("pytorch") && r.tokensPerS !== null);
  console.log(`${values.shape} with random weights (f32)\n`);
  console.log("| measurement | runner | seconds | tokens/s | vs PyTorch | peak RSS (GB) | note |");
  console.log("| --- | --- | ---: | ---: | ---: | ---: | --- |");
  for (const r of rows) {
    const ratio = comparable && torch && r.what === torch.what && r.tokensPerS
      ? `${(r.tokensPerS / torch.tokensPerS!).toFixed(2)}x`
      : "";
    console.log(
      `| ${r.what} | ${r.runner} | ${f(r.seconds, 3)} | ${f(r.tokensPerS, 1)} | ${ratio} | ${
        f(r.peakRss === null ? null : r.peakRss / 2 ** 30, 2)
      } | ${r.note} |`,
    );
  }
}

if (values.child) {
  const [kind, a, b] = values.child.split(":");
  if (kind === "decode") await childDecode(a as ExecutionProvider, Number(b));
  else await childTrain(a as TrainingBackend);
} else {
  await parent();
}
