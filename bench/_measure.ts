/**
 * What the benchmark scripts share: each measurement runs in its own process (so its peak RSS is
 * its own), a training step timed the same way on every backend, and the PyTorch reference step
 * (../shared/reference/bench_torch_step.py, an outside tool called as one: /usr/bin/python3 under
 * GNU time, with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset).
 */
import { stripVTControlCharacters } from "node:util";
import type { LoadedModel } from "../src/model/mod.ts";
import { PrefixModule } from "../src/prefix/mod.ts";
import { createTrainer, type TrainingBackend } from "../src/train/mod.ts";
import { ROOT } from "../tests/_fixtures.ts";
import { singleNodeModel } from "../src/infer/_onnx_graph.ts";
import {
  type BatchStats,
  type ExecutionProvider,
  InferenceEngine,
  loadOrtBackend,
  type OrtTensor,
} from "../src/infer/mod.ts";
import { loadModel } from "../src/model/mod.ts";
import type { ModelConfig } from "../src/model/mod.ts";

/** Where the PyTorch reference step lives, beside the project. */
export const TORCH_STEP_SCRIPT = `${ROOT}../shared/reference/bench_torch_step.py`;

/**
 * A one-node ONNX `MatMul` model `[M, K] x [K, N]`, written by the SDK's protobuf writer: what
 * the benchmarks time to measure the machine's matmul rate.
 */
export function matmulModel(M: number, K: number, N: number): Uint8Array {
  return singleNodeModel({
    opType: "MatMul",
    inputs: [
      { name: "X", type: "float32", dims: [M, K] },
      { name: "W", type: "float32", dims: [K, N] },
    ],
    outputs: [{ name: "Y", type: "float32", dims: [M, N] }],
    opset: 13,
  });
}

/**
 * The hand-written decode baseline: batch 1, greedy from BOS, no prefix, the presents fed back
 * as the next step's pasts. Everything the engine adds on top of ORT shows against it.
 *
 * @param ep where the graph runs
 * @param config the model's config (layers, KV heads, head width, BOS)
 * @param graph the ONNX graph's bytes
 * @returns a runner giving tokens/s for a number of steps, and its release
 */
export async function rawDecodeLoop(
  ep: ExecutionProvider,
  config: ModelConfig,
  graph: Uint8Array,
): Promise<{ run(steps: number): Promise<number>; release(): Promise<void> }> {
  const { numLayers: L, numKvHeads: H, headDim: hd } = config;
  const backend = await loadOrtBackend(ep);
  const session = await backend.createSession(graph, {
    graphOptimizationLevel: "all",
    logSeverityLevel: 3,
    ...(ep === "webgpu" ? { preferredOutputLocation: "gpu-buffer" as const } : {}),
  });
  const i64 = (v: number[], dims: number[]) =>
    backend.tensor("int64", BigInt64Array.from(v, BigInt), dims);
  async function run(steps: number): Promise<number> {
    let past: OrtTensor[] = [];
    for (let i = 0; i < 2 * L; i++) {
      past.push(backend.tensor("float32", new Float32Array(0), [1, H, 0, hd]));
    }
    let token = config.bosTokenId ?? 0;
    const t0 = performance.now();
    for (let t = 0; t < steps; t++) {
      const feeds: Record<string, OrtTensor> = {
        input_ids: i64([token], [1, 1]),
        attention_mask: i64(new Array(t + 1).fill(1), [1, t + 1]),
        position_ids: i64([t], [1, 1]),
      };
      for (let l = 0; l < L; l++) {
        feeds[`past_key_values.${l}.key`] = past[2 * l];
        feeds[`past_key_values.${l}.value`] = past[2 * l + 1];
      }
      const out = await session.run(feeds);
      const lt = out.logits;
      const logits = (lt.location === "cpu" ? lt.data : await lt.getData(true)) as Float32Array;
      let best = 0;
      for (let v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v;
      token = best;
      for (const p of past) if (p.location === "gpu-buffer") p.dispose();
      past = [];
      for (let l = 0; l < L; l++) past.push(out[`present.${l}.key`], out[`present.${l}.value`]);
    }
    const s = (performance.now() - t0) / 1000;
    for (const p of past) if (p.location === "gpu-buffer") p.dispose();
    return steps / s;
  }
  return { run, release: () => session.release() };
}

/**
 * Greedy decoding with the engine at batch `rows.length`: every row decodes exactly `steps` new
 * tokens (no early stop) after a 4-token warm-up run.
 *
 * @param dir the model folder (with `onnx/model.onnx`)
 * @param rows each row's prompt token ids
 * @param steps new tokens per row
 * @param threads native ORT's intra-op threads
 * @param draftTokens the engine's `draftTokens` (default: the engine's default)
 * @returns tokens/s over all rows, the first row's tokens, and the timed batch's counters
 */
export async function engineDecode(
  dir: string,
  rows: number[][],
  steps: number,
  threads: number,
  draftTokens?: number,
): Promise<{ tokensPerSec: number; first: number[]; stats: BatchStats }> {
  const engine = await InferenceEngine.create(await loadModel(dir), {
    executionProvider: "native",
    nativeThreads: threads,
    draftTokens,
  });
  try {
    const run = async (n: number) => {
      const batch = engine.openBatch();
      const streams = batch.addAll(rows.map((inputIds) => ({
        inputIds,
        maxNewTokens: n,
        eosTokenIds: [],
      })));
      const results = await Promise.all(streams.map((s) => s.result));
      return { results, stats: batch.stats };
    };
    await run(4);
    const t = performance.now();
    const { results, stats } = await run(steps);
    const s = (performance.now() - t) / 1000;
    const tokens = results.reduce((n, r) => n + r.tokenIds.length, 0);
    return { tokensPerSec: tokens / s, first: results[0].tokenIds, stats };
  } finally {
    await engine.dispose();
  }
}

/** The middle value (the upper middle for an even count). */
export function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}

/** Peak resident set of this process (Linux VmHWM), in bytes. */
export function peakRss(): number {
  const m = Deno.readTextFileSync("/proc/self/status").match(/VmHWM:\s+(\d+) kB/);
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Run a command to its end; stdout and stderr as text. */
export async function runCommand(
  cmd: string,
  args: string[],
  env?: Record<string, string>,
  clearEnv = false,
): Promise<{ ok: boolean; text: string; err: string }> {
  // A hung child must not hang the whole table: each gets at most 10 minutes.
  const signal = AbortSignal.timeout(600_000);
  const out = await new Deno.Command(cmd, {
    args,
    env,
    clearEnv,
    stdout: "piped",
    stderr: "piped",
    signal,
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const err = new TextDecoder().decode(out.stderr);
  return { ok: out.success, text, err };
}

/**
 * Run a benchmark script again in a child process (`deno run -A <script> ...args`) and parse the
 * JSON line it prints last.
 *
 * @returns the parsed line, or the child's error message (the first stderr line that names an
 * error, not the stack trace below it) as the reason it failed
 */
export async function runChild(
  scriptUrl: string,
  args: string[],
): Promise<{ json: Record<string, number> } | { error: string }> {
  const r = await runCommand(Deno.execPath(), ["run", "-A", new URL(scriptUrl).pathname, ...args]);
  try {
    return { json: JSON.parse(r.text.trim().split("\n").at(-1) ?? "") };
  } catch {
    return { error: failureReason(r.err) ?? `exit ${r.ok ? 0 : 1}` };
  }
}

/** The line of a child's stderr that says what failed: its error message, else its last line. */
export function failureReason(stderr: string): string | undefined {
  const lines = stderr.split("\n").map((l) => stripVTControlCharacters(l).trim())
    .filter((l) => l !== "");
  return lines.find((l) => /^(error|uncaught|\w*error\b)/i.test(l)) ?? lines.at(-1);
}

/** A prefix-tuning training step's shape. */
export interface StepShape {
  /** Batch rows. */
  B: number;
  /** Tokens per row. */
  T: number;
  /** Prefix length. */
  P: number;
  /** Residual MLP width. */
  mid: number;
  /** Threads (PyTorch's `set_num_threads`; the script's default, 2, when absent). */
  threads?: number;
}

function batchFor(model: LoadedModel, b: number, t: number) {
  const V = model.config.vocabSize;
  const inputIds = Array.from(
    { length: b },
    (_, r) => Array.from({ length: t }, (_, i) => (r * 7919 + i * 104729) % V),
  );
  return { inputIds, labels: inputIds.map((row) => row.map((id, i) => (i === 0 ? -100 : id))) };
}

/**
 * Time training steps (forward + backward + prefix backward + clipped AdamW) with a residual +
 * gate prefix; the first step is a warm-up.
 *
 * @param threads native ORT's intra-op threads (default: ORT's choice)
 * @returns the median step time and the trainer's setup time, in seconds
 */
export async function timeTrainStep(
  model: LoadedModel,
  s: StepShape,
  backend: TrainingBackend,
  steps: number,
  threads?: number,
): Promise<{ stepS: number; setupS: number }> {
  const pm = PrefixModule.init(model.config, {
    prefixLen: s.P,
    reparam: "residual",
    gate: true,
    midDim: s.mid,
    seed: 1,
  });
  const t0 = performance.now();
  const { trainer } = await createTrainer(model, pm, {
    maxBatch: s.B,
    maxLen: s.T,
    backend,
    // Pinned for native ORT only: WASM's count is fixed per process (1 unless set otherwise).
    threads: backend === "native" ? threads : undefined,
  });
  const setupS = (performance.now() - t0) / 1000;
  try {
    const batch = batchFor(model, s.B, s.T);
    const times: number[] = [];
    for (let i = 0; i <= steps; i++) { // step 0 is a warm-up
      const t = performance.now();
      const { lossSum, tokens } = await trainer.accumulate(batch);
      const { skipped } = await trainer.step({ lr: 1e-3 });
      // A step that computed nothing is fast; never report it as a time.
      if (!Number.isFinite(lossSum / tokens) || skipped) {
        throw new Error(
          `step ${i} on ${backend} gave loss ${lossSum / tokens} (skipped: ${skipped})`,
        );
      }
      if (i > 0) times.push((performance.now() - t) / 1000);
    }
    times.sort((a, b) => a - b);
    return { stepS: times[Math.floor(times.length / 2)], setupS };
  } finally {
    trainer.destroy();
  }
}

/** PyTorch's peak RSS from GNU time's "Maximum resident set size (kbytes)". */
function timeRss(stderr: string): number | null {
  const m = stderr.match(/Maximum resident set size \(kbytes\): (\d+)/);
  return m ? Number(m[1]) * 1024 : null;
}

/** One PyTorch reference step's numbers. */
export interface TorchStep {
  /** "pytorch <version> (<n> threads)". */
  runner: string;
  stepS: number;
  tokensPerS: number;
  peakRss: number | null;
}

/**
 * Time the PyTorch reference step on one of its named shapes (`--help` of the script lists them).
 *
 * @param script path of bench_torch_step.py
 * @param model the script's shape name, e.g. `qwen3-0.6b`
 * @param s batch, length, prefix and MLP width
 * @param steps timed steps (the script adds none; one more is passed for its warm-up)
 * @returns the numbers, or why it failed
 */
export async function torchStep(
  script: string,
  model: string,
  s: StepShape,
  steps: number,
): Promise<TorchStep | { error: string }> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(Deno.env.toObject())) {
    if (k !== "OPENBLAS_CORETYPE" && k !== "OPENBLAS_L2_SIZE") env[k] = v;
  }
  const args = [
    "-v",
    "/usr/bin/python3",
    script,
    "--model",
    model,
    "--batch",
    String(s.B),
    "--len",
    String(s.T),
    "--prefix",
    String(s.P),
    "--mid",
    String(s.mid),
    ...(s.threads ? ["--threads", String(s.threads)] : []),
    "--steps",
    String(steps + 1),
  ];
  const r = await runCommand("/usr/bin/time", args, env, true);
  try {
    const j = JSON.parse(r.text.trim().split("\n").at(-1) ?? "");
    return {
      runner: `pytorch ${j.torch} (${j.threads} threads)`,
      stepS: j.step_s,
      tokensPerS: j.tokens_per_s,
      peakRss: timeRss(r.err),
    };
  } catch {
    return { error: r.err.trim().split("\n").slice(-3).join(" ") };
  }
}
