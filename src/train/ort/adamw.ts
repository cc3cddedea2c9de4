/**
 * Global-norm clipping and AdamW on the host, the same maths as the WebGPU trainer's
 * kernels/adamw_update.wgsl (torch.optim.AdamW with torch.nn.utils.clip_grad_norm_):
 * g = grad * min(1, maxNorm / (norm + 1e-6)); p *= 1 - lr wd; m = b1 m + (1 - b1) g;
 * v = b2 v + (1 - b2) g²; p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
 * A non-finite norm changes nothing.
 *
 * @module
 */
import type { ResolvedAdamW } from "../trainer.ts";

/** The global L2 norm of a set of gradients. */
export function globalNorm(grads: Iterable<Float32Array>): number {
  let sum = 0;
  for (const g of grads) {
    for (let i = 0; i < g.length; i++) sum += g[i] * g[i];
  }
  return Math.sqrt(sum);
}

/**
 * Clip and apply one AdamW update in place.
 *
 * @param params parameters by name (updated)
 * @param grads gradients by name (already averaged over tokens)
 * @param moments first and second moments by name (updated)
 * @param opt hyperparameters, defaults filled (`resolveAdamW`)
 * @param step the update's number, from 1
 * @param gradScale what `grads` are multiplied by first (default 1): a trainer that sums
 *   gradients over tokens passes 1 / tokens, which saves a pass over them (at GPT-2 small the
 *   prefix module has 10 M parameters, and each pass is milliseconds)
 * @returns the norm before clipping (of the scaled gradients), and whether the update was skipped
 */
export function adamwStep(
  params: Record<string, Float32Array>,
  grads: Record<string, Float32Array>,
  moments: { m: Record<string, Float32Array>; v: Record<string, Float32Array> },
  opt: ResolvedAdamW,
  step: number,
  gradScale = 1,
): { gradNorm: number; skipped: boolean } {
  const gradNorm = globalNorm(Object.values(grads)) * Math.abs(gradScale);
  if (!Number.isFinite(gradNorm)) return { gradNorm, skipped: true };
  const { beta1: b1, beta2: b2, eps, weightDecay: wd, maxGradNorm: maxNorm } = opt;
  const clip = (maxNorm > 0 ? Math.min(1, maxNorm / (gradNorm + 1e-6)) : 1) * gradScale;
  const stepSize = opt.lr / (1 - b1 ** step), invBc2Sqrt = 1 / Math.sqrt(1 - b2 ** step);
  const decay = 1 - opt.lr * wd, a1 = 1 - b1, a2 = 1 - b2;
  for (const [name, p] of Object.entries(params)) {
    const g = grads[name], m = moments.m[name], v = moments.v[name];
    for (let i = 0; i < p.length; i++) {
      const gi = g[i] * clip;
      const mi = (m[i] = b1 * m[i] + a1 * gi);
      const vi = (v[i] = b2 * v[i] + a2 * gi * gi);
      p[i] = p[i] * decay - stepSize * mi / (Math.sqrt(vi) * invBc2Sqrt + eps);
    }
  }
  return { gradNorm, skipped: false };
}
