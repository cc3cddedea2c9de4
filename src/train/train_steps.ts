/**
 * A fixed number of AdamW steps on one batch, on any training backend: the smallest training
 * loop.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import type { LoadedModel } from "../model/mod.ts";
import type { PrefixModule } from "../prefix/mod.ts";
import type { KernelSetName } from "../gpu/mod.ts";
import type { AdamWOptions, TokenBatch } from "./trainer.ts";
import { createTrainer, type TrainingBackend } from "./training_backend.ts";

/** Options of {@link trainSteps}: AdamW with a constant learning rate, and the step count. */
export interface TrainStepsOptions extends AdamWOptions {
  /** Number of optimizer steps. */
  steps: number;
  /** `webgpu`, `native`, `wasm`, or `auto` (default: the fastest the machine has). */
  backend?: TrainingBackend | "auto";
  /** WebGPU only: force a kernel set (default: `PREFIX_EDGE_KERNELS`, else the adapter's). */
  kernels?: KernelSetName;
}

/**
 * Run `steps` AdamW steps on one batch and update `pm.params` in place.
 *
 * @param model the loaded base model (any trainable family)
 * @param pm the prefix module (updated in place)
 * @param batch the batch, reused every step
 * @param opts steps and AdamW hyperparameters (constant lr)
 * @returns `losses[i]`: the mean loss before step i; `gradNorms[i]`: the norm before clipping;
 *   the `backend` that ran and the `kernelSet` (WebGPU; `null` on ONNX Runtime)
 * @throws {PrefixEdgeError} `INVALID_INPUT` for a bad step count, and as the trainers
 *
 * @example Memorize a batch
 * ```ts
 * import { ok } from "node:assert";
 * import { loadModel } from "../model/mod.ts";
 * import { PrefixModule } from "../prefix/mod.ts";
 * const model = await loadModel("tests/fixtures/gpt2-text");
 * const pm = PrefixModule.init(model.config, { prefixLen: 4, reparam: "residual", gate: true, midDim: 16 });
 * const batch = { inputIds: [[5, 6, 7, 8]], labels: [[-100, -100, 7, 8]] };
 * import { trainSteps } from "./train_steps.ts";
 * const { losses } = await trainSteps(model, pm, batch, { steps: 30, lr: 1e-2 });
 * ok(losses.at(-1)! < losses[0], `the loss falls: ${losses[0]} -> ${losses.at(-1)}`);
 * ```
 */
export async function trainSteps(
  model: LoadedModel,
  pm: PrefixModule,
  batch: TokenBatch,
  opts: TrainStepsOptions,
): Promise<
  {
    losses: number[];
    gradNorms: number[];
    backend: TrainingBackend;
    kernelSet: KernelSetName | null;
  }
> {
  if (!Number.isInteger(opts.steps) || opts.steps < 0) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      `Cannot train: steps must be a non-negative integer, got ${opts.steps}`,
    );
  }
  const { trainer, backend } = await createTrainer(model, pm, {
    maxBatch: batch.inputIds.length,
    maxLen: batch.inputIds[0]?.length ?? 1,
    backend: opts.backend,
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
    const params = await trainer.readParams();
    for (const [name, v] of Object.entries(params)) {
      if (v !== pm.params[name]) pm.params[name].set(v);
    }
    return { losses, gradNorms, backend, kernelSet: trainer.kernelSet ?? null };
  } finally {
    trainer.destroy();
  }
}
