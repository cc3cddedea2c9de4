/**
 * One-shot loss and gradients of a prefix module on a batch, on any training backend.
 *
 * @module
 */
import type { LoadedModel } from "../model/mod.ts";
import type { PrefixModule } from "../prefix/mod.ts";
import type { KernelSetName } from "../gpu/mod.ts";
import type { TokenBatch } from "./trainer.ts";
import { createTrainer, type TrainingBackend } from "./training_backend.ts";

/** Options of {@link lossAndGrads}. */
export interface LossAndGradsOptions {
  /** `webgpu`, `native`, `wasm`, or `auto` (default: the fastest the machine has). */
  backend?: TrainingBackend | "auto";
  /** WebGPU only: force a kernel set (default: `PREFIX_EDGE_KERNELS`, else the adapter's). */
  kernels?: KernelSetName;
}

/**
 * The mean cross-entropy over counted tokens and its gradient with respect to every
 * parameter of the prefix module.
 *
 * @param model the loaded base model (any trainable family)
 * @param pm the prefix module (not modified)
 * @param batch right-padded rows; labels aligned with inputIds (HF), -100 ignored
 * @param options the backend, and on WebGPU the kernel set
 * @returns `loss`, `grads` keyed `E`, `W1`, `b1`, `W2`, `b2`, `a` (those the method has), the
 *   `backend` that ran, and the `kernelSet` (WebGPU; `null` on ONNX Runtime)
 * @throws {PrefixEdgeError} as the trainers' `create` and `accumulate`
 *
 * @example Check a gradient
 * ```ts
 * import { ok } from "node:assert";
 * import { loadModel } from "../model/mod.ts";
 * import { PrefixModule } from "../prefix/mod.ts";
 * const model = await loadModel("tests/fixtures/gpt2-text");
 * const pm = PrefixModule.init(model.config, { prefixLen: 4, reparam: "residual", gate: true, midDim: 16 });
 * const batch = { inputIds: [[5, 6, 7, 8]], labels: [[-100, -100, 7, 8]] };
 * import { lossAndGrads } from "./loss_and_grads.ts";
 * const { loss, grads, backend } = await lossAndGrads(model, pm, batch);
 * ok(loss > 0 && grads.E.length === pm.params.E.length, `${backend}: loss ${loss}`);
 * ```
 */
export async function lossAndGrads(
  model: LoadedModel,
  pm: PrefixModule,
  batch: TokenBatch,
  options: LossAndGradsOptions = {},
): Promise<
  {
    loss: number;
    grads: Record<string, Float32Array>;
    backend: TrainingBackend;
    kernelSet: KernelSetName | null;
  }
> {
  const { trainer, backend } = await createTrainer(model, pm, {
    maxBatch: batch.inputIds.length,
    maxLen: batch.inputIds[0]?.length ?? 1,
    backend: options.backend,
    kernels: options.kernels,
  });
  try {
    const { lossSum, tokens } = await trainer.accumulate(batch);
    const grads = await trainer.readGrads();
    return { loss: lossSum / tokens, grads, backend, kernelSet: trainer.kernelSet ?? null };
  } finally {
    trainer.destroy();
  }
}
