/**
 * What the training loop needs from a trainer: the methods of the WebGPU
 * `PrefixTrainer` (src/train/gpu_trainer.ts) that it calls. That class
 * satisfies this interface; tests pass small CPU fakes, so
 * the loop's bookkeeping (schedule, accumulation, checkpoints, the NaN guard)
 * is tested without a GPU.
 *
 * @module
 */
import type { LoadedModel } from "../../model/mod.ts";
import type { PrefixModule } from "../../prefix/mod.ts";
import type { AdamWOptions, OptimizerState, TokenBatch } from "../gpu_trainer.ts";

/** Right-padded rows `[B, T]`; labels `-100` are ignored (the GPU trainer's `TokenBatch`). */
export type TrainerBatch = TokenBatch;
/** AdamW hyperparameters of one step (the GPU trainer's `AdamWOptions`). */
export type StepOptions = AdamWOptions;
/** Adam moments and step count (the GPU trainer's `OptimizerState`). */
export type TrainerOptimizerState = OptimizerState;

/** The trainer the loop drives: forward/backward, optimizer, state I/O. */
export interface LoopTrainer {
  /** Forward + backward of one micro-batch; adds the gradient of the token-loss sum. */
  accumulate(batch: TrainerBatch): Promise<{ lossSum: number; tokens: number }>;
  /** Average the gradients over the tokens since the last step, clip, apply AdamW; non-finite norm -> skipped. */
  step(options: StepOptions): Promise<{ gradNorm: number; skipped: boolean }>;
  /** Forward only: the token-loss sum and the number of counted tokens. */
  evaluate(batch: TrainerBatch): Promise<{ lossSum: number; tokens: number }>;
  /** Read the parameters back (also updates the prefix module's `params`). */
  readParams(): Promise<Record<string, Float32Array>>;
  /** Read the optimizer's moments and step count. */
  readOptimizerState(): Promise<TrainerOptimizerState>;
  /** Restore moments and step count (resume). */
  loadOptimizerState(state: TrainerOptimizerState): Promise<void>;
  /** Free GPU resources. */
  destroy(): void;
}

/**
 * Builds a trainer for a model and a prefix module (the GPU trainer's
 * `PrefixTrainer.create`).
 */
export type TrainerFactory = (
  model: LoadedModel,
  prefixModule: PrefixModule,
  options: { maxBatch: number; maxLen: number },
) => Promise<LoopTrainer>;
