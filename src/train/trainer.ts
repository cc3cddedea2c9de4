/**
 * The trainer contract: what every training backend (WebGPU's `PrefixTrainer`, ONNX Runtime's
 * `OrtPrefixTrainer`, a test's fake) offers the training loop, with the types it speaks in and
 * the one place AdamW's defaults and a step's preconditions are decided. A new backend
 * implements {@link Trainer} and passes tests/train/trainer.case.ts, or it does not exist.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import type { LoadedModel } from "../model/mod.ts";
import type { PrefixModule } from "../prefix/mod.ts";

export type { TokenBatch } from "./token_batch.ts";
import type { TokenBatch } from "./token_batch.ts";

/** AdamW hyperparameters (torch.optim.AdamW semantics). */
export interface AdamWOptions {
  /** Learning rate. */
  lr: number;
  /** (beta1, beta2), default (0.9, 0.999). */
  betas?: [number, number];
  /** Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay, default 0.01 (PyTorch's default). */
  weightDecay?: number;
  /** Global L2 gradient-norm clipping threshold, default 1.0; 0 turns clipping off. */
  maxGradNorm?: number;
}

/** {@link AdamWOptions} with every default filled in. */
export interface ResolvedAdamW {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  maxGradNorm: number;
}

/** AdamW moments and step count, keyed like the parameters. */
export interface OptimizerState {
  /** Number of updates applied so far. */
  step: number;
  /** First moments. */
  m: Record<string, Float32Array>;
  /** Second moments. */
  v: Record<string, Float32Array>;
}

/** Summed loss and counted tokens of one batch. */
export interface BatchLoss {
  /** Sum of the per-token cross-entropy losses (nats). */
  lossSum: number;
  /** Number of counted target tokens. */
  tokens: number;
}

/** What a step did: the gradient norm before clipping, and whether the update was skipped. */
export interface StepResult {
  /** Global L2 norm of the averaged gradient, before clipping. */
  gradNorm: number;
  /** True when the norm was not finite: the update was dropped. */
  skipped: boolean;
}

/** The trainer the loop drives: forward/backward, optimizer, state I/O. */
export interface Trainer {
  /** Forward + backward of one micro-batch; adds the gradient of the token-loss sum. */
  accumulate(batch: TokenBatch): Promise<BatchLoss>;
  /**
   * Average the gradients over the tokens since the last step, clip, apply AdamW.
   * A non-finite norm skips the update. Checks its options with {@link resolveAdamW}.
   */
  step(options: AdamWOptions): Promise<StepResult>;
  /** Forward only: the token-loss sum and the number of counted tokens. */
  evaluate(batch: TokenBatch): Promise<BatchLoss>;
  /** The gradient accumulated since the last step, averaged over its tokens (no step taken). */
  readGrads(): Promise<Record<string, Float32Array>>;
  /** Read the parameters back (also updates the prefix module's `params`). */
  readParams(): Promise<Record<string, Float32Array>>;
  /** Read the optimizer's moments and step count. */
  readOptimizerState(): Promise<OptimizerState>;
  /** Restore moments and step count (resume). */
  loadOptimizerState(state: OptimizerState): Promise<void>;
  /** Free the backend's resources; every later call is refused. */
  destroy(): void;
}

/** Allocation limits every trainer takes. */
export interface TrainerSize {
  /** Most rows per batch. */
  maxBatch: number;
  /** Most tokens per row. */
  maxLen: number;
}

/** Builds a trainer for a model and a prefix module. */
export type TrainerFactory = (
  model: LoadedModel,
  prefixModule: PrefixModule,
  options: TrainerSize,
) => Promise<Trainer>;

/**
 * Check a step's preconditions and fill AdamW's defaults, the same on every backend: a finite
 * `lr >= 0`, at least one token accumulated since the last step; betas (0.9, 0.999), eps 1e-8,
 * weight decay 0.01 and clipping at 1.0 unless given.
 *
 * @param options the step's options
 * @param tokens tokens accumulated since the last step
 * @returns every hyperparameter
 * @throws {PrefixEdgeError} `INVALID_INPUT` naming what is wrong
 *
 * @example Defaults are PyTorch's
 * ```ts
 * import { deepStrictEqual, throws } from "node:assert";
 * import { resolveAdamW } from "./trainer.ts";
 * deepStrictEqual(resolveAdamW({ lr: 1e-3 }, 5), {
 *   lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1,
 * });
 * throws(() => resolveAdamW({ lr: 1e-3 }, 0), /no token was accumulated/);
 * ```
 */
export function resolveAdamW(options: AdamWOptions, tokens: number): ResolvedAdamW {
  if (!(options.lr >= 0) || !Number.isFinite(options.lr)) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      `Cannot step: lr must be a finite number >= 0, got ${options.lr}`,
    );
  }
  if (tokens === 0) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      "Cannot step: no token was accumulated since the last step (every label is -100?)",
    );
  }
  const [beta1, beta2] = options.betas ?? [0.9, 0.999];
  return {
    lr: options.lr,
    beta1,
    beta2,
    eps: options.eps ?? 1e-8,
    weightDecay: options.weightDecay ?? 0.01,
    maxGradNorm: options.maxGradNorm ?? 1.0,
  };
}
