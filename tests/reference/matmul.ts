/**
 * CPU reference of kernels/matmul_forward.wgsl and kernels/matmul_backward.wgsl (float64).
 */

/** Y[M,N] = X[M,K] W[K,N] (+ bias[N]) (+ y0[M,N]). */
export function matmulForward(
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

/** dX[M,K] = dY[M,N] W[K,N]ᵀ (+ dx0[M,K]). */
export function matmulBackward(
  dy: ArrayLike<number>,
  w: ArrayLike<number>,
  M: number,
  K: number,
  N: number,
  dx0?: ArrayLike<number>,
): Float64Array {
  const dx = new Float64Array(M * K);
  for (let m = 0; m < M; m++) {
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let n = 0; n < N; n++) s += dy[m * N + n] * w[k * N + n];
      dx[m * K + k] = s + (dx0 ? dx0[m * K + k] : 0);
    }
  }
  return dx;
}
