/**
 * GPTQ (Frantar et al., "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained
 * Transformers", 2022) for the q4 export's 4-bit blocks: the inputs of a matrix are quantized one
 * after another, and each one's rounding error is pushed onto the inputs not yet quantized, in
 * proportion to how the calibration activations correlate them. What it minimizes is the error of
 * the product `x W^T` on those activations, not of `W` itself. Plain rounding
 * ({@link quantizeBlocks}) is the same procedure with uncorrelated inputs.
 *
 * Block scales are chosen as the export chooses them ({@link symmetricScale}), from the weights
 * as updated when the block's first input is reached (GPTQ's groupwise rule). No act-order.
 *
 * @module
 */
import { packBlockCodes, Q4_BLOCK, symmetricScale } from "./decoder_weights.ts";

/** Ridge added to the Gram matrix's diagonal, as a share of its mean diagonal (GPTQ's default). */
export const GPTQ_DAMPING = 0.01;

/**
 * Quantize `w` `[N, K]` to symmetric 4-bit blocks of 32 along K, by GPTQ.
 *
 * @param w row-major `[N, K]` (N outputs, K inputs)
 * @param N rows
 * @param K columns
 * @param gram `X^T X` `[K, K]` of the calibration inputs X `[rows, K]` (any positive scale)
 * @returns the packed codes `[N, ceil(K / 32), 16]` and the scales `[N, ceil(K / 32)]`, in the
 *   layout of {@link quantizeBlocks}
 *
 * @example With uncorrelated inputs, GPTQ rounds as plain block quantization does
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { quantizeBlocks } from "./decoder_weights.ts";
 * import { gptqBlocks } from "./gptq.ts";
 * const K = 40, w = Float32Array.from({ length: 2 * K }, (_, i) => Math.sin(i * 1.7));
 * const eye = new Float64Array(K * K).map((_, i) => (i % (K + 1) === 0 ? 1 : 0));
 * const g = gptqBlocks(w, 2, K, eye), r = quantizeBlocks(w, 2, K, 4, false);
 * assertEquals([g.packed, g.scale], [r.packed, r.scale]);
 * ```
 */
export function gptqBlocks(
  w: Float32Array,
  N: number,
  K: number,
  gram: Float32Array | Float64Array,
): { packed: Uint8Array; scale: Float32Array } {
  const U = inverseCholeskyUpper(gram, K);
  const nb = Math.ceil(K / Q4_BLOCK);
  const scale = new Float32Array(N * nb);
  const codes = new Uint8Array(N * nb * Q4_BLOCK).fill(8);
  const block = new Float32Array(Q4_BLOCK);
  const rows = new Float64Array(ROWS_PER_PASS * K); // row r at r * K
  const s = new Float64Array(ROWS_PER_PASS), err = new Float64Array(ROWS_PER_PASS);
  for (let n0 = 0; n0 < N; n0 += ROWS_PER_PASS) {
    // Rows do not interact; a group of them shares each pass over U.
    const count = Math.min(ROWS_PER_PASS, N - n0);
    rows.set(w.subarray(n0 * K, (n0 + count) * K));
    for (let k = 0; k < K; k++) {
      const d = U[k * K + k];
      for (let r = 0; r < count; r++) {
        const at = r * K + k, n = n0 + r;
        if (k % Q4_BLOCK === 0) {
          const b = k / Q4_BLOCK, len = Math.min(Q4_BLOCK, K - k);
          let m = 0;
          for (let i = 0; i < len; i++) {
            block[i] = rows[at + i];
            if (Math.abs(block[i]) > Math.abs(m)) m = block[i];
          }
          s[r] = m ? symmetricScale(block, 0, len, m, 8) : 0;
          scale[n * nb + b] = s[r];
        }
        const code = s[r] ? Math.max(-8, Math.min(7, Math.round(rows[at] * (1 / s[r])))) : 0;
        codes[n * nb * Q4_BLOCK + k] = code + 8;
        // The rounding error, spread over the inputs still to come (row k of U, scaled by its
        // diagonal). Zero where the inputs are uncorrelated.
        err[r] = (rows[at] - code * s[r]) / d;
      }
      subtractScaledRow(rows, 0, count, err, U, k * K, k + 1, K);
    }
  }
  return { packed: packBlockCodes(codes, N, nb, 4), scale };
}

/**
 * Rows handled together by the loops over a `[K, K]` factor, which for K = 3072 (75 MB) does not
 * stay in cache: each pass over one of its rows serves this many rows of the output, and the
 * memory traffic falls by as much. bench/gptq_bench.ts: 2x on GPT-2 small's K = 3072 matrices.
 * The unrolled loops are written for 4.
 */
const ROWS_PER_PASS = 4;

/**
 * The upper Cholesky factor U of `(G + λI)^-1` (so that `(G + λI)^-1 = U^T U`), with λ
 * {@link GPTQ_DAMPING} of G's mean diagonal, and a unit diagonal where an input never varied.
 *
 * Without forming the inverse: with `H = R R^T` for an upper triangular R (the Cholesky factor
 * of H with its rows and columns reversed), `H^-1 = R^-T R^-1`, so U is `R^-1`. Every inner loop
 * walks a row, in groups of {@link ROWS_PER_PASS} rows.
 */
function inverseCholeskyUpper(gram: Float32Array | Float64Array, K: number): Float64Array {
  let mean = 0;
  for (let i = 0; i < K; i++) mean += gram[i * K + i] / K;
  const damp = GPTQ_DAMPING * (mean || 1);
  // H with its rows and columns reversed, damped.
  const A = new Float64Array(K * K);
  for (let i = 0; i < K; i++) {
    for (let j = 0; j < K; j++) A[i * K + j] = gram[(K - 1 - i) * K + (K - 1 - j)];
    const d = i * K + i;
    if (A[d] === 0) A[d] = 1;
    A[d] += damp;
  }
  const M = cholesky(A, K); // reversed H = M M^T, so H = R R^T with R[i][j] = M[K-1-i][K-1-j]
  const R = (i: number, j: number) => M[(K - 1 - i) * K + (K - 1 - j)];
  // U = R^-1, upper triangular, from the last row up: U[i] = (e_i - sum_k>i R[i][k] U[k]) / R[i][i].
  const U = new Float64Array(K * K);
  const r = new Float64Array(ROWS_PER_PASS);
  for (let i1 = K; i1 > 0;) {
    // Rows [i0, i1) together: each pass over a finished row k >= i1 serves all of them.
    const i0 = Math.max(0, i1 - ROWS_PER_PASS), count = i1 - i0;
    for (let k = i1; k < K; k++) {
      for (let t = 0; t < count; t++) r[t] = R(i0 + t, k);
      subtractScaledRow(U, i0 * K, count, r, U, k * K, k, K);
    }
    // Then the rows of the group itself, the last first; each is final once divided.
    for (let i = i1 - 1; i >= i0; i--) {
      const ui = i * K, rii = R(i, i);
      for (let k = i + 1; k < i1; k++) {
        const rik = R(i, k), uk = k * K;
        for (let j = k; j < K; j++) U[ui + j] -= rik * U[uk + j];
      }
      for (let j = i + 1; j < K; j++) U[ui + j] /= rii;
      U[ui + i] = 1 / rii;
    }
    i1 = i0;
  }
  return U;
}

/**
 * `dst[first + t*K + j] -= c[t] * src[at + j]` for the `count` rows t and j in `[from, K)`: one
 * pass over the source row for up to {@link ROWS_PER_PASS} destination rows. A large `[K, K]`
 * factor does not stay in cache, so sharing each pass is what makes these loops fast.
 */
function subtractScaledRow(
  dst: Float64Array,
  first: number,
  count: number,
  c: Float64Array,
  src: Float64Array,
  at: number,
  from: number,
  K: number,
): void {
  if (count === 4) {
    const d0 = first, d1 = d0 + K, d2 = d1 + K, d3 = d2 + K;
    const [c0, c1, c2, c3] = c;
    if (c0 === 0 && c1 === 0 && c2 === 0 && c3 === 0) return;
    for (let j = from; j < K; j++) {
      const v = src[at + j];
      dst[d0 + j] -= c0 * v;
      dst[d1 + j] -= c1 * v;
      dst[d2 + j] -= c2 * v;
      dst[d3 + j] -= c3 * v;
    }
    return;
  }
  for (let t = 0; t < count; t++) {
    const d = first + t * K, ct = c[t];
    if (ct !== 0) { for (let j = from; j < K; j++) dst[d + j] -= ct * src[at + j]; }
  }
}

/** The lower Cholesky factor of a symmetric positive definite `[K, K]` matrix. */
function cholesky(A: Float64Array, K: number): Float64Array {
  const L = new Float64Array(K * K);
  const sum = new Float64Array(ROWS_PER_PASS);
  for (let i0 = 0; i0 < K; i0 += ROWS_PER_PASS) {
    // Rows [i0, i1) together: each pass over an earlier row j serves all of them.
    const i1 = Math.min(K, i0 + ROWS_PER_PASS), count = i1 - i0;
    for (let j = 0; j < i0; j++) {
      const lj = j * K;
      for (let t = 0; t < count; t++) sum[t] = A[(i0 + t) * K + j];
      dotRows(L, i0 * K, count, lj, j, sum, K);
      for (let t = 0; t < count; t++) L[(i0 + t) * K + j] = sum[t] / L[lj + j];
    }
    for (let i = i0; i < i1; i++) {
      for (let j = i0; j <= i; j++) {
        let s = A[i * K + j];
        for (let k = 0; k < j; k++) s -= L[i * K + k] * L[j * K + k];
        if (i === j) {
          if (!(s > 0)) {
            throw new Error("gptqBlocks: the damped Gram matrix is not positive definite");
          }
          L[i * K + i] = Math.sqrt(s);
        } else {
          L[i * K + j] = s / L[j * K + j];
        }
      }
    }
  }
  return L;
}

/** `sum[t] -= L[first + t*K + k] * L[at + k]` over k in `[0, n)`, for the `count` rows t. */
function dotRows(
  L: Float64Array,
  first: number,
  count: number,
  at: number,
  n: number,
  sum: Float64Array,
  K: number,
): void {
  if (count === 4) {
    const d0 = first, d1 = d0 + K, d2 = d1 + K, d3 = d2 + K;
    let s0 = sum[0], s1 = sum[1], s2 = sum[2], s3 = sum[3];
    for (let k = 0; k < n; k++) {
      const v = L[at + k];
      s0 -= L[d0 + k] * v;
      s1 -= L[d1 + k] * v;
      s2 -= L[d2 + k] * v;
      s3 -= L[d3 + k] * v;
    }
    sum[0] = s0, sum[1] = s1, sum[2] = s2, sum[3] = s3;
    return;
  }
  for (let t = 0; t < count; t++) {
    const d = first + t * K;
    let s = sum[t];
    for (let k = 0; k < n; k++) s -= L[d + k] * L[at + k];
    sum[t] = s;
  }
}
