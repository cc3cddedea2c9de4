/**
 * CPU emulation of the rounding in kernels/matmul_xw_tiled_f16.wgsl and
 * kernels/matmul_xwt_tiled_f16.wgsl: each operand is rounded to f16 when it is staged, each
 * product is an f16 multiply (rounded to f16), and the products are summed in f32 in reduction
 * order (k = 0, 1, ...), as each invocation's accumulators do; bias and the accumulated Y are
 * added in f32 at the store.
 */

const h = Math.f16round;
const f = Math.fround;

/** Y[M,N] = X[M,K] W[K,N] (+ bias[N]) (+ y0[M,N]) with the f16 kernel's rounding. */
export function matmulXWF16(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  bias: ArrayLike<number> | null,
  M: number,
  K: number,
  N: number,
  y0?: ArrayLike<number>,
): Float32Array {
  const y = new Float32Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s = f(s + h(h(x[m * K + k]) * h(w[k * N + n])));
      if (bias) s = f(s + bias[n]);
      y[m * N + n] = y0 ? f(s + y0[m * N + n]) : s;
    }
  }
  return y;
}

/** Y[M,N] = X[M,K] W[N,K]ᵀ (+ y0[M,N]) with the f16 kernel's rounding. */
export function matmulXWtF16(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  M: number,
  K: number,
  N: number,
  y0?: ArrayLike<number>,
): Float32Array {
  const y = new Float32Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s = f(s + h(h(x[m * K + k]) * h(w[n * K + k])));
      y[m * N + n] = y0 ? f(s + y0[m * N + n]) : s;
    }
  }
  return y;
}

/**
 * The stated bound of the f16 matmuls against exact arithmetic, per output element:
 * |Y_f16 − Y| <= (3·2⁻¹¹ + K·2⁻²⁴) · Σ_k |x_k w_k| + K·2⁻²⁵ (to first order; u16 = 2⁻¹¹ for
 * each of the two operand roundings and the product's, u32 = 2⁻²⁴ per f32 addition, and 2⁻²⁵
 * per product that falls below f16's normal range), for operands and products below 65504
 * in magnitude (f16 overflows to infinity above it).
 */
export function f16Bound(absProductSum: number, K: number): number {
  return (3 * 2 ** -11 + K * 2 ** -24) * absProductSum + K * 2 ** -25;
}
