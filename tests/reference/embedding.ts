/**
 * CPU reference of kernels/embedding_forward.wgsl (no backward: the embeddings are frozen).
 */

/** x[b*T + t] = wte[ids[b*T + t]] (+ wpe[posOffset + t] when wpe is given). */
export function embeddingForward(
  ids: ArrayLike<number>,
  wte: ArrayLike<number>,
  wpe: ArrayLike<number> | null,
  T: number,
  C: number,
  posOffset: number,
): Float64Array {
  const x = new Float64Array(ids.length * C);
  for (let r = 0; r < ids.length; r++) {
    const pos = posOffset + (r % T);
    for (let c = 0; c < C; c++) x[r * C + c] = wte[ids[r] * C + c] + (wpe ? wpe[pos * C + c] : 0);
  }
  return x;
}
