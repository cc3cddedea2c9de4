/**
 * CPU reference of kernels/bias_add.wgsl (float64).
 */

/** y0[r, c] + bias[c] for a row-major [rows, N] array. */
export function biasAdd(y0: ArrayLike<number>, bias: ArrayLike<number>, rows: number, N: number) {
  const y = Float64Array.from(y0);
  for (let r = 0; r < rows; r++) for (let c = 0; c < N; c++) y[r * N + c] += bias[c];
  return y;
}
