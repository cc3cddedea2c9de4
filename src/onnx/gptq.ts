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
  gram: Float64Array,
): { packed: Uint8Array; scale: Float32Array } {
  const U = inverseCholeskyUpper(gram, K);
  const nb = Math.ceil(K / Q4_BLOCK);
  const scale = new Float32Array(N * nb);
  const codes = new Uint8Array(N * nb * Q4_BLOCK).fill(8);
  const block = new Float32Array(Q4_BLOCK);
  for (let n = 0; n < N; n++) {
    // One row at a time: rows do not interact, and a row of K doubles stays in cache.
    const row = Float64Array.from(w.subarray(n * K, (n + 1) * K));
    let s = 0;
    for (let k = 0; k < K; k++) {
      if (k % Q4_BLOCK === 0) {
        const b = k / Q4_BLOCK, len = Math.min(Q4_BLOCK, K - k);
        let m = 0;
        for (let i = 0; i < len; i++) {
          block[i] = row[k + i];
          if (Math.abs(block[i]) > Math.abs(m)) m = block[i];
        }
        s = m ? symmetricScale(block, 0, len, m, 8) : 0;
        scale[n * nb + b] = s;
      }
      const code = s ? Math.max(-8, Math.min(7, Math.round(row[k] * (1 / s)))) : 0;
      codes[n * nb * Q4_BLOCK + k] = code + 8;
      // The rounding error, spread over the inputs still to come (row k of U, scaled by its
      // diagonal). Zero where the inputs are uncorrelated.
      const err = (row[k] - code * s) / U[k * K + k];
      for (let j = k + 1; j < K; j++) row[j] -= err * U[k * K + j];
    }
  }
  return { packed: packBlockCodes(codes, N, nb, 4), scale };
}

/**
 * The upper Cholesky factor U of `(G + λI)^-1` (so that `(G + λI)^-1 = U^T U`), with λ
 * {@link GPTQ_DAMPING} of G's mean diagonal, and a unit diagonal where an input never varied.
 *
 * Without forming the inverse: with `H = R R^T` for an upper triangular R (the Cholesky factor
 * of H with its rows and columns reversed), `H^-1 = R^-T R^-1`, so U is `R^-1`. Every inner loop
 * walks a row, so K = 3072 stays in cache order.
 */
function inverseCholeskyUpper(gram: Float64Array, K: number): Float64Array {
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
  for (let i = K - 1; i >= 0; i--) {
    const ui = i * K, rii = R(i, i);
    for (let k = i + 1; k < K; k++) {
      const r = R(i, k);
      if (r === 0) continue;
      const uk = k * K;
      for (let j = k; j < K; j++) U[ui + j] -= r * U[uk + j];
    }
    for (let j = i + 1; j < K; j++) U[ui + j] /= rii;
    U[ui + i] = 1 / rii;
  }
  return U;
}
/** The lower Cholesky factor of a symmetric positive definite `[K, K]` matrix. */
function cholesky(A: Float64Array, K: number): Float64Array {
  const L = new Float64Array(K * K);
  for (let i = 0; i < K; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = A[i * K + j];
      for (let k = 0; k < j; k++) sum -= L[i * K + k] * L[j * K + k];
      if (i === j) {
        if (!(sum > 0)) {
          throw new Error("gptqBlocks: the damped Gram matrix is not positive definite");
        }
        L[i * K + i] = Math.sqrt(sum);
      } else {
        L[i * K + j] = sum / L[j * K + j];
      }
    }
  }
  return L;
}
