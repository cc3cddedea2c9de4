/**
 * q4 benchmark: greedy decode tokens/s at batch 1 of our f32, q8 and q4 exports of the same
 * weights, in alternating runs, plus their file sizes.
 *
 * Usage:
 *   deno run -A bench/q4_bench.ts [--steps N] [--eps native,wasm] [--repeats R]
 *   deno run -A bench/q4_bench.ts --quick     (a small random GPT-2, 4 steps: proves it works)
 *
 * The model is a GPT-2-small-shaped checkpoint with random weights (12 layers, d 768, 12 heads,
 * vocab 50257, 1024 positions; tests/gpu/_random_gpt2.ts), written to a temporary folder and
 * exported three times. Decoding is bandwidth-bound at that size, which is what q4 is for;
 * stories260K is too small to show it. Each graph gets a warm-up run, then the graphs alternate
 * R times and each keeps its best.
 */
import { loadModel } from "../src/model/mod.ts";
import { type ExportDtype, exportOnnx } from "../src/onnx/mod.ts";
import { writeRandomGpt2 } from "../tests/gpu/_random_gpt2.ts";
import { printHelpIfAsked } from "./_help.ts";
import { rawDecodeLoop } from "./_measure.ts";

printHelpIfAsked(import.meta.url);

function arg(name: string): string | undefined {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}
const QUICK = Deno.args.includes("--quick");
const STEPS = Number(arg("steps") ?? (QUICK ? 4 : 32));
const EPS = (arg("eps") ?? "native,wasm").split(",") as ("native" | "wasm")[];
const REPEATS = Number(arg("repeats") ?? (QUICK ? 1 : 3));
const SHAPE = QUICK
  ? { layers: 2, embd: 128, heads: 4, vocab: 1000, positions: 128 }
  : { layers: 12, embd: 768, heads: 12, vocab: 50257, positions: 1024 };

const tmp = await Deno.makeTempDir();
const dir = `${tmp}/gpt2`;
await writeRandomGpt2(dir, SHAPE);
const model = await loadModel(dir);
const DTYPES: ExportDtype[] = ["f32", "q8", "q4"];
const bytes: Record<string, Uint8Array> = {};
const sizes: Record<string, number> = {};
for (const dtype of DTYPES) {
  const r = await exportOnnx(dir, { dtype, out: `${tmp}/${dtype}/model.onnx` });
  bytes[dtype] = await Deno.readFile(r.onnxPath);
  sizes[dtype] = r.record.files.graphBytes;
}

/** Tokens/s of the hand-written greedy decode loop (batch 1, from BOS, KV cache fed back). */
async function decode(ep: "native" | "wasm", graph: Uint8Array): Promise<number> {
  const loop = await rawDecodeLoop(ep, model.config, graph);
  try {
    return await loop.run(STEPS);
  } finally {
    await loop.release();
  }
}

const load = Deno.loadavg()[0];
console.log(
  `\nRandom GPT-2 ${JSON.stringify(SHAPE)}; load average ${load.toFixed(2)} at the start\n`,
);
console.log("| dtype | model.onnx MB | / f32 |\n| --- | --- | --- |");
for (const d of DTYPES) {
  console.log(
    `| ${d} | ${(sizes[d] / 2 ** 20).toFixed(1)} | ${(sizes[d] / sizes.f32).toFixed(3)} |`,
  );
}
console.log(
  `\nDecode tokens/s, batch 1, ${STEPS} steps after a 1-token prompt, best of ${REPEATS} after a warm-up\n`,
);
console.log("| EP | f32 | q8 | q4 | q8 / f32 | q4 / f32 |\n| --- | --- | --- | --- | --- | --- |");
for (const ep of EPS) {
  const best: Record<string, number> = { f32: 0, q8: 0, q4: 0 };
  for (let r = -1; r < REPEATS; r++) {
    for (const d of DTYPES) {
      const tps = await decode(ep, bytes[d]);
      if (r >= 0) best[d] = Math.max(best[d], tps);
    }
  }
  console.log(
    `| ${ep} | ${best.f32.toFixed(1)} | ${best.q8.toFixed(1)} | ${best.q4.toFixed(1)} | ${
      (best.q8 / best.f32).toFixed(2)
    } | ${(best.q4 / best.f32).toFixed(2)} |`,
  );
}
console.log(`load average ${Deno.loadavg()[0].toFixed(2)} at the end`);
await Deno.remove(tmp, { recursive: true });
