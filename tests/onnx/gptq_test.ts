/**
 * `gptqBlocks` against a textbook GPTQ written out here: the damped Gram matrix inverted by
 * Gauss-Jordan elimination, and U the upper Cholesky factor of that inverse, as in the GPTQ
 * paper's Algorithm 1. The library forms U without the inverse and in row groups that share each
 * pass over the factors; the two must give the same codes and scales. The shapes are not
 * multiples of the row groups or of the 32-input blocks, so every partial path runs.
 */
import { deepStrictEqual as assertEquals } from "node:assert";
import { GPTQ_DAMPING, gptqBlocks } from "../../src/onnx/gptq.ts";
import { packBlockCodes, Q4_BLOCK, symmetricScale } from "../../src/onnx/decoder_weights.ts";

/** The textbook GPTQ of one matrix, rows one at a time. */
function textbookGptq(w: Float32Array, N: number, K: number, gram: Float64Array) {
  let mean = 0;
  for (let i = 0; i < K; i++) mean += gram[i * K + i] / K;
  const H = Float64Array.from(gram);
  for (let i = 0; i < K; i++) {
    if (H[i * K + i] === 0) H[i * K + i] = 1;
    H[i * K + i] += GPTQ_DAMPING * mean;
  }
  const Hinv = invert(H, K);
  // Hinv = L L^T (lower L); U = L^T.
  const L = new Float64Array(K * K);
  for (let i = 0; i < K; i++) {
    for (let j = 0; j <= i; j++) {
      let s = Hinv[i * K + j];
      for (let k = 0; k < j; k++) s -= L[i * K + k] * L[j * K + k];
      L[i * K + j] = i === j ? Math.sqrt(s) : s / L[j * K + j];
    }
  }
  const U = (i: number, j: number) => L[j * K + i];
  const nb = Math.ceil(K / Q4_BLOCK);
  const scale = new Float32Array(N * nb), codes = new Uint8Array(N * nb * Q4_BLOCK).fill(8);
  const block = new Float32Array(Q4_BLOCK);
  for (let n = 0; n < N; n++) {
    const row = Float64Array.from(w.subarray(n * K, (n + 1) * K));
    let s = 0;
    for (let k = 0; k < K; k++) {
      if (k % Q4_BLOCK === 0) {
        const len = Math.min(Q4_BLOCK, K - k);
        let m = 0;
        for (let i = 0; i < len; i++) {
          block[i] = row[k + i];
          if (Math.abs(block[i]) > Math.abs(m)) m = block[i];
        }
        s = m ? symmetricScale(block, 0, len, m, 8) : 0;
        scale[n * nb + k / Q4_BLOCK] = s;
      }
      const code = s ? Math.max(-8, Math.min(7, Math.round(row[k] * (1 / s)))) : 0;
      codes[n * nb * Q4_BLOCK + k] = code + 8;
      const err = (row[k] - code * s) / U(k, k);
      for (let j = k + 1; j < K; j++) row[j] -= err * U(k, j);
    }
  }
  return { packed: packBlockCodes(codes, N, nb, 4), scale };
}

/** The inverse of a symmetric positive definite `[K, K]` matrix, by Gauss-Jordan elimination. */
function invert(A: Float64Array, K: number): Float64Array {
  const a = Float64Array.from(A), inv = new Float64Array(K * K);
  for (let i = 0; i < K; i++) inv[i * K + i] = 1;
  for (let c = 0; c < K; c++) {
    const p = a[c * K + c];
    for (let j = 0; j < K; j++) {
      a[c * K + j] /= p;
      inv[c * K + j] /= p;
    }
    for (let r = 0; r < K; r++) {
      const f = a[r * K + c];
      if (r === c || f === 0) continue;
      for (let j = 0; j < K; j++) {
        a[r * K + j] -= f * a[c * K + j];
        inv[r * K + j] -= f * inv[c * K + j];
      }
    }
  }
  return inv;
}

Deno.test("gptqBlocks gives the textbook GPTQ's codes and scales, on shapes with partial groups and blocks", () => {
  for (const [K, N] of [[75, 7], [130, 10]]) {
    // Correlated inputs (a shared component and a few fixed patterns), one never varies.
    const rows = 200;
    const X = new Float64Array(rows * K);
    for (let r = 0; r < rows; r++) {
      for (let i = 1; i < K; i++) {
        X[r * K + i] = Math.sin(r * 0.7) + 0.5 * Math.cos(r * 0.13 * (i % 5)) +
          0.3 * Math.sin(r * i * 0.011);
      }
    }
    const gram = new Float64Array(K * K);
    for (let r = 0; r < rows; r++) {
      for (let i = 0; i < K; i++) {
        for (let j = 0; j < K; j++) gram[i * K + j] += X[r * K + i] * X[r * K + j];
      }
    }
    const w = Float32Array.from({ length: N * K }, (_, i) => Math.sin(i * 1.37) * 0.05);
    const got = gptqBlocks(w, N, K, gram), want = textbookGptq(w, N, K, gram);
    assertEquals(got.packed, want.packed, `codes, K ${K} N ${N}`);
    for (let i = 0; i < want.scale.length; i++) {
      const d = Math.abs(got.scale[i] - want.scale[i]) / Math.abs(want.scale[i]);
      if (!(d < 1e-5)) throw new Error(`scale ${i}: ${got.scale[i]} against ${want.scale[i]}`);
    }
    // The correlations matter here: plain rounding gives other codes.
    const eye = new Float64Array(K * K).map((_, i) => (i % (K + 1) === 0 ? 1 : 0));
    const rounded = gptqBlocks(w, N, K, eye).packed;
    if (rounded.every((b, i) => b === want.packed[i])) {
      throw new Error("the test's inputs are too weakly correlated to tell GPTQ from rounding");
    }
  }
});
