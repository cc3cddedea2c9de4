/**
 * Where a training step runs, and the default choice: `webgpu` on a hardware GPU (the WGSL
 * trainer), else `native` (the ONNX training graph on onnxruntime-node, several times faster
 * than WebGPU on a software rasterizer), else the faster of `wasm` (the same ONNX graph on
 * onnxruntime-web) and WebGPU on a software rasterizer: on a quiet 2-core machine the
 * stories260K step took 0.20-0.33 s on WASM and 0.44 s on llvmpipe, and the GPT-2-small step
 * 0.72 s and 1.72 s, so WASM comes first (bench/train_backend_bench.ts, bench/RESULTS.md).
 * Every backend reads and writes the same parameters, AdamW state, checkpoints and bundles,
 * so a run may resume on another backend.
 *
 * @module
 */
import type { KernelSetName } from "../gpu/mod.ts";
import { PrefixEdgeError } from "../errors/mod.ts";
import type { LoadedModel } from "../model/mod.ts";
import { type GpuProbe, probeGpu } from "../infer/mod.ts";
import type { PrefixModule } from "../prefix/mod.ts";
import { PrefixTrainer } from "./webgpu/prefix_trainer.ts";
import { OrtPrefixTrainer } from "./ort/ort_trainer.ts";
import type { Trainer } from "./trainer.ts";

/** Where a training step runs. */
export type TrainingBackend = "webgpu" | "native" | "wasm";

/** The backends, in the CLI's spelling. */
export const TRAINING_BACKENDS: readonly TrainingBackend[] = ["webgpu", "native", "wasm"];

/** One backend to try, and why. */
export interface TrainingBackendCandidate {
  /** The backend. */
  backend: TrainingBackend;
  /** Why it is tried (for the startup log). */
  reason: string;
}

/**
 * Order the training backends to try.
 *
 * @param requested `auto` (or undefined) for the default order, or one backend
 * @param probe what WebGPU offers (default: probe it now)
 * @returns the candidates, best first
 * @throws {PrefixEdgeError} `INVALID_INPUT` for an unknown name
 *
 * @example The order on a machine without a GPU
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { trainingBackendCandidates } from "./training_backend.ts";
 * const list = await trainingBackendCandidates("auto", { available: false, hardware: false, description: "no adapter" });
 * assertEquals(list.map((c) => c.backend), ["native", "wasm"]);
 * ```
 */
export async function trainingBackendCandidates(
  requested?: string,
  probe?: GpuProbe,
): Promise<TrainingBackendCandidate[]> {
  if (requested && requested !== "auto") {
    if (!(TRAINING_BACKENDS as readonly string[]).includes(requested)) {
      throw new PrefixEdgeError(
        "INVALID_INPUT",
        `Cannot train on backend '${requested}': choose auto, webgpu, native or wasm`,
      );
    }
    return [{ backend: requested as TrainingBackend, reason: "requested" }];
  }
  const gpu = probe ?? await probeGpu();
  if (gpu.hardware) {
    return [
      { backend: "webgpu", reason: `hardware WebGPU adapter (${gpu.description})` },
      { backend: "native", reason: "fallback after WebGPU" },
      { backend: "wasm", reason: "portable fallback" },
    ];
  }
  const noGpu = gpu.available
    ? `the only WebGPU adapter is software (${gpu.description})`
    : `no WebGPU adapter (${gpu.description})`;
  const out: TrainingBackendCandidate[] = [
    { backend: "native", reason: `${noGpu}; ONNX Runtime's native CPU backend is fastest` },
  ];
  out.push({
    backend: "wasm",
    reason: "the native backend did not load; WASM measured faster than software WebGPU",
  });
  if (gpu.available) {
    out.push({
      backend: "webgpu",
      reason: `the native backend and WASM did not load; software WebGPU (${gpu.description})`,
    });
  }
  return out;
}

/** Options of {@link createTrainer}. */
export interface CreateTrainerOptions {
  /** Most rows per batch. */
  maxBatch: number;
  /** Most tokens per row. */
  maxLen: number;
  /** `auto` (default) or one backend (then no fallback). */
  backend?: TrainingBackend | "auto";
  /** Receives one line per attempt and the final choice. */
  log?: (line: string) => void;
  /** WebGPU probe result (default: probe now). */
  probe?: GpuProbe;
  /** WebGPU only: force a kernel set (default: `PREFIX_EDGE_KERNELS`, else the adapter's). */
  kernels?: KernelSetName;
  /**
   * ONNX Runtime only: intra-op threads (native; default ORT's choice, all cores) or WASM
   * threads (default 1). Benchmarks pin it so that both sides of a comparison say what they ran.
   */
  threads?: number;
}

/** A trainer and the backend it runs on. */
export interface ChosenTrainer {
  /** The trainer. */
  trainer: Trainer & {
    /** WebGPU: the kernel set that runs; ONNX Runtime trainers have none. */
    readonly kernelSet?: KernelSetName;
  };
  /** Its backend. */
  backend: TrainingBackend;
  /** Why that backend. */
  reason: string;
}

/**
 * Create a trainer on the first backend that loads.
 *
 * @param model the frozen base model
 * @param pm the prefix module to train
 * @param opts limits, backend, log
 * @returns the trainer, its backend and why
 * @throws {PrefixEdgeError} the last backend's error when none loads
 *
 * @example Train on whatever the machine does best
 * ```ts
 * import { ok } from "node:assert";
 * import { loadModel } from "../model/mod.ts";
 * import { PrefixModule } from "../prefix/mod.ts";
 * const model = await loadModel("tests/fixtures/gpt2-text");
 * const pm = PrefixModule.init(model.config, { prefixLen: 4, reparam: "residual", gate: true, midDim: 16 });
 * const batch = { inputIds: [[5, 6, 7, 8]], labels: [[-100, -100, 7, 8]] };
 * import { createTrainer } from "./training_backend.ts";
 * const { trainer, backend, reason } = await createTrainer(model, pm, { maxBatch: 4, maxLen: 64 });
 * ok((await trainer.accumulate(batch)).tokens === 2, `${backend}: ${reason}`);
 * trainer.destroy();
 * ```
 */
export async function createTrainer(
  model: LoadedModel,
  pm: PrefixModule,
  opts: CreateTrainerOptions,
): Promise<ChosenTrainer> {
  const candidates = await trainingBackendCandidates(opts.backend, opts.probe);
  const limits = { maxBatch: opts.maxBatch, maxLen: opts.maxLen };
  let last: unknown;
  for (const c of candidates) {
    try {
      const trainer = c.backend === "webgpu"
        ? await PrefixTrainer.create(model, pm, { ...limits, kernels: opts.kernels })
        : await OrtPrefixTrainer.create(model, pm, {
          ...limits,
          backend: c.backend,
          threads: opts.threads,
        });
      opts.log?.(`backend: ${c.backend} (${c.reason})`);
      return { trainer, backend: c.backend, reason: c.reason };
    } catch (e) {
      last = e;
      if (
        candidates.length > 1 && e instanceof PrefixEdgeError &&
        (e.code === "BACKEND_UNAVAILABLE" || e.code === "GPU_UNAVAILABLE")
      ) {
        opts.log?.(`backend: ${c.backend} unavailable (${e.message}); trying the next one`);
        continue;
      }
      throw e;
    }
  }
  throw last;
}
