/**
 * CPU reference of kernels/adamw_update.wgsl (float64): global-norm clipping as
 * torch.nn.utils.clip_grad_norm_, then one torch.optim.AdamW step.
 */

/** Hyperparameters of one step; `step` is 1-based. */
export interface AdamWRef {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  maxNorm: number;
  step: number;
}

/** Updates p, m, v in place; returns the norm before clipping. */
export function adamwUpdate(
  p: Float64Array,
  g: ArrayLike<number>,
  m: Float64Array,
  v: Float64Array,
  h: AdamWRef,
): number {
  let ss = 0;
  for (let i = 0; i < g.length; i++) ss += g[i] * g[i];
  const norm = Math.sqrt(ss);
  if (!Number.isFinite(norm)) return norm;
  const clip = h.maxNorm > 0 ? Math.min(1, h.maxNorm / (norm + 1e-6)) : 1;
  const bc1 = 1 - h.beta1 ** h.step, bc2 = 1 - h.beta2 ** h.step;
  for (let i = 0; i < p.length; i++) {
    const gi = g[i] * clip;
    p[i] *= 1 - h.lr * h.weightDecay;
    m[i] = h.beta1 * m[i] + (1 - h.beta1) * gi;
    v[i] = h.beta2 * v[i] + (1 - h.beta2) * gi * gi;
    p[i] -= (h.lr / bc1) * m[i] / (Math.sqrt(v[i]) / Math.sqrt(bc2) + h.eps);
  }
  return norm;
}
