/**
 * CPU reference of kernels/layernorm_forward.wgsl and kernels/layernorm_backward.wgsl (float64).
 */

/** y = (x - mean) * rstd * w + b per row; also (mean, rstd) per row. */
export function layernormForward(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  b: ArrayLike<number>,
  rows: number,
  C: number,
  eps: number,
): { y: Float64Array; stats: Float64Array } {
  const y = new Float64Array(rows * C);
  const stats = new Float64Array(rows * 2);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let c = 0; c < C; c++) mean += x[r * C + c];
    mean /= C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[r * C + c] - mean) ** 2;
    const rstd = 1 / Math.sqrt(v / C + eps);
    for (let c = 0; c < C; c++) y[r * C + c] = (x[r * C + c] - mean) * rstd * w[c] + b[c];
    stats[2 * r] = mean;
    stats[2 * r + 1] = rstd;
  }
  return { y, stats };
}

/** dx0 + d(layernorm)/dx · dy (the weight and bias are frozen). */
export function layernormBackward(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  rows: number,
  C: number,
  eps: number,
  dx0: ArrayLike<number>,
): Float64Array {
  const { stats } = layernormForward(x, w, new Float64Array(C), rows, C, eps);
  const dx = Float64Array.from(dx0);
  for (let r = 0; r < rows; r++) {
    const mean = stats[2 * r], rstd = stats[2 * r + 1];
    let mg = 0, mgx = 0;
    for (let c = 0; c < C; c++) {
      const g = dy[r * C + c] * w[c];
      mg += g;
      mgx += g * (x[r * C + c] - mean) * rstd;
    }
    mg /= C;
    mgx /= C;
    for (let c = 0; c < C; c++) {
      const xhat = (x[r * C + c] - mean) * rstd;
      dx[r * C + c] += rstd * (dy[r * C + c] * w[c] - mg - xhat * mgx);
    }
  }
  return dx;
}
