/**
 * GPTQ's cost per matrix (src/onnx/gptq.ts), on the shapes of GPT-2 small's 4-bit matrices: the
 * time of `gptqBlocks` for one matrix, and of its factor of the inverse Gram matrix alone (timed
 * as a call with a single weight row, whose updates cost next to nothing), with the arithmetic
 * rate of each part.
 *
 * The Gram matrix is `X^T X` of 256 fixed pseudo-random rows (for K above 256 GPTQ's damping is
 * what makes it definite), and the weights are fixed pseudo-random: the codes do not depend on
 * the machine, and the table's last column (a checksum of codes and scales) lets two trees be
 * checked for the same output.
 *
 * Usage: deno run -A bench/gptq_bench.ts [--shapes 768x2304,768x3072,3072x768] [--quick]
 *   each shape is K x N (inputs x outputs); --quick runs one small shape (proves it works)
 */
import { parseArgs } from "node:util";
import { SeededRandom } from "../src/model/mod.ts";
import { gptqBlocks } from "../src/onnx/gptq.ts";
import { printHelpIfAsked } from "./_help.ts";

printHelpIfAsked(import.meta.url);
const values = parseArgs({
  args: Deno.args,
  options: {
    shapes: { type: "string", default: "768x2304,768x3072,3072x768" },
    quick: { type: "boolean", default: false },
  },
}).values;
const shapes = (values.quick ? "96x64" : values.shapes!).split(",").map((s) => {
  const [K, N] = s.split("x").map(Number);
  if (!(K > 0 && N > 0)) throw new Error(`--shapes: "${s}" is not K x N`);
  return { K, N };
});

console.log("| K x N | factor (s) | factor GFLOP/s | whole (s) | update GFLOP/s | checksum |");
console.log("| --- | ---: | ---: | ---: | ---: | --- |");
for (const { K, N } of shapes) {
  const rows = 256;
  // The project's seeded generator: the same inputs on every machine and in every tree.
  const X = new SeededRandom(1).uniforms(rows * K, 0.5);
  const gram = new Float64Array(K * K);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < K; i++) {
      const xi = X[r * K + i];
      for (let j = 0; j < K; j++) gram[i * K + j] += xi * X[r * K + j];
    }
  }
  const w = new SeededRandom(2).uniforms(N * K, 0.02);
  let t = performance.now();
  gptqBlocks(w.subarray(0, K), 1, K, gram);
  const factor = (performance.now() - t) / 1000;
  t = performance.now();
  const { packed, scale } = gptqBlocks(w, N, K, gram);
  const whole = (performance.now() - t) / 1000;
  // Cholesky and the triangular inverse: K^3 / 3 multiply-adds; the updates: N K^2 / 2.
  const factorFlop = (2 * K ** 3) / 3, updateFlop = N * K * K;
  const checksum = packed.reduce((a, b) => (a * 31 + b) % 1e9, 0) +
    scale.reduce((a, b) => a + b, 0);
  console.log(
    `| ${K} x ${N} | ${factor.toFixed(2)} | ${(factorFlop / factor / 1e9).toFixed(2)} | ${
      whole.toFixed(2)
    } | ${(updateFlop / Math.max(1e-9, whole - factor) / 1e9).toFixed(2)} | ${
      checksum.toFixed(6)
    } |`,
  );
}
