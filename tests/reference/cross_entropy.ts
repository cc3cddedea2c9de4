/**
 * CPU reference of kernels/cross_entropy_forward.wgsl and cross_entropy_backward.wgsl
 * (float64): softmax cross-entropy per row, target -1 = ignored.
 */

/** Per-row loss (0 for ignored rows) and d(sum of losses)/d logits. */
export function crossEntropy(
  logits: ArrayLike<number>,
  targets: ArrayLike<number>,
  rows: number,
  V: number,
): { loss: Float64Array; dlogits: Float64Array } {
  const loss = new Float64Array(rows);
  const dlogits = new Float64Array(rows * V);
  for (let r = 0; r < rows; r++) {
    if (targets[r] < 0) continue;
    let mx = -Infinity;
    for (let v = 0; v < V; v++) mx = Math.max(mx, logits[r * V + v]);
    let z = 0;
    for (let v = 0; v < V; v++) z += Math.exp(logits[r * V + v] - mx);
    const lse = mx + Math.log(z);
    loss[r] = lse - logits[r * V + targets[r]];
    for (let v = 0; v < V; v++) {
      dlogits[r * V + v] = Math.exp(logits[r * V + v] - lse) - (v === targets[r] ? 1 : 0);
    }
  }
  return { loss, dlogits };
}
