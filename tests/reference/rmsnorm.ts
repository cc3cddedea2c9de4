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

/** Where the vectors sit in a row (the kernels' grouped layout). */
export interface VectorLayout {
  rows: number;
  C: number;
  groups: number;
  stride: number;
  offset: number;
}

/** Start of vector (row, g) in a row-major [rows, stride] array. */
function start(l: VectorLayout, row: number, g: number): number {
  return row * l.stride + l.offset + g * l.C;
}

/**
 * Grouped RMSNorm (Qwen3's per-head q/k norm): the plain reference applied to each vector of
 * C at `offset + g * C` in rows `stride` apart; y is a copy of `y0` with those vectors
 * replaced, rstd is per vector.
 */
export function rmsnormGroupedForward(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  l: VectorLayout,
  eps: number,
  y0: ArrayLike<number>,
): { y: Float64Array; rstd: Float64Array } {
  const y = Float64Array.from(y0);
  const rstd = new Float64Array(l.rows * l.groups);
  for (let r = 0; r < l.rows; r++) {
    for (let g = 0; g < l.groups; g++) {
      const s = start(l, r, g);
      const one = rmsnormForward(Array.prototype.slice.call(x, s, s + l.C), w, 1, l.C, eps);
      y.set(one.y, s);
      rstd[r * l.groups + g] = one.rstd[0];
    }
  }
  return { y, rstd };
}

/**
 * The grouped backward: each vector's input gradient added into (or, with `accumulate`
 * false, written over) a copy of `dx0`; other columns keep `dx0`.
 */
export function rmsnormGroupedBackward(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  l: VectorLayout,
  eps: number,
  dx0: ArrayLike<number>,
  accumulate: boolean,
): Float64Array {
  const dx = Float64Array.from(dx0);
  const slice = (a: ArrayLike<number>, s: number) => Array.prototype.slice.call(a, s, s + l.C);
  for (let r = 0; r < l.rows; r++) {
    for (let g = 0; g < l.groups; g++) {
      const s = start(l, r, g);
      const base = accumulate ? slice(dx0, s) : new Array(l.C).fill(0);
      dx.set(rmsnormBackward(slice(dy, s), slice(x, s), w, 1, l.C, eps, base), s);
    }
  }
  return dx;
}
