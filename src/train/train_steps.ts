/**
 * A fixed number of AdamW steps on one batch, on WebGPU: the smallest training loop.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import type { LoadedModel } from "../model/mod.ts";
import type { PrefixModule } from "../prefix/mod.ts";
import type { KernelSetName } from "../gpu/mod.ts";
import { type AdamWOptions, PrefixTrainer, type TokenBatch } from "./gpu_trainer.ts";

/** Options of {@link trainSteps}: AdamW with a constant learning rate, and the step count. */
export interface TrainStepsOptions extends AdamWOptions {
  /** Number of optimizer steps. */
  steps: number;
  /** Force a kernel set (default: `PREFIX_EDGE_KERNELS`, else the adapter's). */
  kernels?: KernelSetName;
}

/**
 * Run `steps` AdamW steps on one batch and update `pm.params` in place.
 *
 * @param model a loaded GPT-2 model
 * @param pm the prefix module (updated in place)
 * @param batch the batch, reused every step
 * @param opts steps and AdamW hyperparameters (constant lr)
 * @returns `losses[i]`: the mean loss before step i; `gradNorms[i]`: the norm before clipping;
 * `kernelSet`: the kernels that ran
 * @throws {PrefixEdgeError} `INVALID_INPUT` for a bad step count, and as {@link PrefixTrainer}
 *
 * @example Memorize a batch
 * ```ts ignore
 * const { losses } = await trainSteps(model, pm, batch, { steps: 30, lr: 1e-2 });
 * ```
 */
export async function trainSteps(
  model: LoadedModel,
  pm: PrefixModule,
  batch: TokenBatch,
  opts: TrainStepsOptions,
): Promise<{ losses: number[]; gradNorms: number[]; kernelSet: KernelSetName }> {
  if (!Number.isInteger(opts.steps) || opts.steps < 0) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      `Cannot train: steps must be a non-negative integer, got ${opts.steps}`,
    );
  }
  const trainer = await PrefixTrainer.create(model, pm, {
    maxBatch: batch.inputIds.length,
    maxLen: batch.inputIds[0]?.length ?? 1,
    kernels: opts.kernels,
  });
  try {
    const losses: number[] = [];
    const gradNorms: number[] = [];
    for (let i = 0; i < opts.steps; i++) {
      const { lossSum, tokens } = await trainer.accumulate(batch);
      losses.push(lossSum / tokens);
      gradNorms.push((await trainer.step(opts)).gradNorm);
    }
    await trainer.readParams();
    return { losses, gradNorms, kernelSet: trainer.kernelSet };
  } finally {
    trainer.destroy();
  }
}
