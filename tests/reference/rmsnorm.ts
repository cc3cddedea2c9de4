/**
 * CPU reference of kernels/rmsnorm_forward.wgsl and kernels/rmsnorm_backward.wgsl (float64).
 */

/** y = x * rstd * w per row, rstd = 1 / sqrt(mean(x²) + eps); also rstd per row. */
export function rmsnormForward(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  rows: number,
  C: number,
  eps: number,
): { y: Float64Array; rstd: Float64Array } {
  const y = new Float64Array(rows * C);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let q = 0;
    for (let c = 0; c < C; c++) q += x[r * C + c] ** 2;
    rstd[r] = 1 / Math.sqrt(q / C + eps);
    for (let c = 0; c < C; c++) y[r * C + c] = x[r * C + c] * rstd[r] * w[c];
  }
  return { y, rstd };
}

/** dx0 + d(rmsnorm)/dx · dy (the weight is frozen). */
export function rmsnormBackward(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  rows: number,
  C: number,
  eps: number,
  dx0: ArrayLike<number>,
): Float64Array {
  const { rstd } = rmsnormForward(x, w, rows, C, eps);
  const dx = Float64Array.from(dx0);
  for (let r = 0; r < rows; r++) {
    // y_c = x_c * rstd * w_c, d rstd / d x_j = -rstd³ x_j / C.
    let gx = 0;
    for (let c = 0; c < C; c++) gx += dy[r * C + c] * w[c] * x[r * C + c];
    for (let j = 0; j < C; j++) {
      dx[r * C + j] += dy[r * C + j] * w[j] * rstd[r] - gx * rstd[r] ** 3 * x[r * C + j] / C;
    }
  }
  return dx;
}
