/**
 * CPU reference of kernels/matmul_xw.wgsl and kernels/matmul_xwt.wgsl (float64).
 */

/** Y[M,N] = X[M,K] W[K,N] (+ bias[N]) (+ y0[M,N]). */
export function matmulXW(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  bias: ArrayLike<number> | null,
  M: number,
  K: number,
  N: number,
  y0?: ArrayLike<number>,
): Float64Array {
  const y = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = bias ? bias[n] : 0;
      for (let k = 0; k < K; k++) s += x[m * K + k] * w[k * N + n];
      y[m * N + n] = s + (y0 ? y0[m * N + n] : 0);
    }
  }
  return y;
}

/** Y[M,N] = X[M,K] W[N,K]ᵀ (+ y0[M,N]). */
export function matmulXWt(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  M: number,
  K: number,
  N: number,
  y0?: ArrayLike<number>,
): Float64Array {
  const y = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += x[m * K + k] * w[n * K + k];
      y[m * N + n] = s + (y0 ? y0[m * N + n] : 0);
    }
  }
  return y;
}
