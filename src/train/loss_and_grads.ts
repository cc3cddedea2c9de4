/**
 * One-shot loss and gradients of a prefix module on a batch, on WebGPU.
 *
 * @module
 */
import type { LoadedModel } from "../model/mod.ts";
import type { PrefixModule } from "../prefix/mod.ts";
import type { KernelSetName } from "../gpu/mod.ts";
import { PrefixTrainer, type TokenBatch } from "./gpu_trainer.ts";

/**
 * The mean cross-entropy over counted tokens and its gradient with respect to every
 * parameter of the prefix module.
 *
 * @param model a loaded GPT-2 model
 * @param pm the prefix module (not modified)
 * @param batch right-padded rows; labels aligned with inputIds (HF), -100 ignored
 * @param opts `kernels`: force a kernel set (default: `PREFIX_EDGE_KERNELS`, else the adapter's)
 * @returns `loss`, `grads` keyed `E`, `W1`, `b1`, `W2`, `b2`, `a` (those the method has), and
 * the `kernelSet` that ran
 * @throws {PrefixEdgeError} as {@link PrefixTrainer.create} and {@link PrefixTrainer.accumulate}
 *
 * @example Check a gradient
 * ```ts ignore
 * const { loss, grads } = await lossAndGrads(model, pm, { inputIds, labels, attentionMask });
 * console.log(loss, grads.E.length);
 * ```
 */
export async function lossAndGrads(
  model: LoadedModel,
  pm: PrefixModule,
  batch: TokenBatch,
  opts: { kernels?: KernelSetName } = {},
): Promise<{ loss: number; grads: Record<string, Float32Array>; kernelSet: KernelSetName }> {
  const trainer = await PrefixTrainer.create(model, pm, {
    maxBatch: batch.inputIds.length,
    maxLen: batch.inputIds[0]?.length ?? 1,
    kernels: opts.kernels,
  });
  try {
    const { lossSum, tokens } = await trainer.accumulate(batch);
    const grads = await trainer.readGrads();
    return { loss: lossSum / tokens, grads, kernelSet: trainer.kernelSet };
  } finally {
    trainer.destroy();
  }
}
