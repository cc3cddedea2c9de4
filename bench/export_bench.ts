/**
 * ONNX export benchmark: our TypeScript export against the PyTorch export of
 * the same weights, in one run (ratios, not absolute numbers).
 *
 * Usage:
 *   deno run -A bench/export_bench.ts --model DIR [--steps N] [--eps native,wasm] [--batches 1,8]
 *     [--calibration FILE]
 *   deno run -A bench/export_bench.ts --quick      (gpt2-tiny, 4 steps: proves the script works)
 *
 * DIR is a model folder with config.json, model.safetensors and the PyTorch
 * export in onnx/model.onnx, e.g. the GPT-2-small-shaped model made by
 *   python3 ../shared/reference/mk_gpt2_small.py /tmp/gpt2-small ../shared/tokenizers/gpt2
 * (see ../shared/reference/README.md for installing torch).
 *
 * It measures:
 * 1. Export: wall time and peak resident memory of `deno task export-onnx`
 *    for f32 and q8 (each in its own process; peak = the kernel's VmHWM); with
 *    `--calibration FILE`, also of the q4 export calibrated by GPTQ on that text
 *    (default counts: 32 sequences of 128 tokens; DIR needs its tokenizer.json).
 * 2. Decode tokens/s of a bare ORT greedy loop (batch rows x N steps after a
 *    1-token prompt, KV cache fed back) for the PyTorch export, our plain f32
 *    export, our `--optimize` f32 export (GroupQueryAttention) and our q8
 *    export, per EP and batch size; the graphs alternate, after one warm-up
 *    run each keeps its best of 3. Ratios: ours / PyTorch, q8 / f32.
 */
import { fileURLToPath } from "node:url";
import { loadOrtBackend, type OrtTensor } from "../src/infer/ort_backend.ts";
import { loadModel } from "../src/model/mod.ts";
import { exportOnnx } from "../src/onnx/mod.ts";
import { printHelpIfAsked } from "./_help.ts";

printHelpIfAsked(import.meta.url);

const ROOT = fileURLToPath(new URL("../", import.meta.url));

if (Deno.args[0] === "--export-child") await exportChild(Deno.args[1], Deno.args[2], Deno.args[3]);

function arg(name: string): string | undefined {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}
const QUICK = Deno.args.includes("--quick");
const MODEL = arg("model") ?? (QUICK ? `${ROOT}../shared/fixtures/gpt2-tiny/model` : undefined);
if (!MODEL) {
  console.error("bench/export_bench.ts: --model DIR is required (or --quick); see --help");
  Deno.exit(2);
}
const STEPS = Number(arg("steps") ?? (QUICK ? 4 : 32));
const EPS = (arg("eps") ?? "native,wasm").split(",") as ("native" | "wasm")[];
const BATCHES = (arg("batches") ?? "1,8").split(",").map(Number);
const REPEATS = QUICK ? 1 : 3;

/** Child mode: export once and print `{ seconds, peakMb }` as JSON. */
async function exportChild(dir: string, dtype: string, out: string): Promise<never> {
  const t0 = performance.now();
  let peak = 0;
  const timer = setInterval(() => peak = Math.max(peak, Deno.memoryUsage().rss), 20);
  const text = Deno.args[5] ? await Deno.readTextFile(Deno.args[5]) : undefined;
  await exportOnnx(dir, {
    dtype: dtype as "f32",
    out,
    optimize: Deno.args[4] === "optimize",
    ...(text === undefined ? {} : { calibration: { text } }),
  });
  clearInterval(timer);
  const seconds = (performance.now() - t0) / 1000;
  let hwm = Math.max(peak, Deno.memoryUsage().rss);
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(Deno.readTextFileSync("/proc/self/status"));
    if (m) hwm = Number(m[1]) * 1024;
  } catch { /* not Linux: keep the sampled peak */ }
  console.log(JSON.stringify({ seconds, peakMb: hwm / 2 ** 20 }));
  Deno.exit(0);
}

async function timedExport(dtype: string, out: string, optimize = false, calibration?: string) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      fileURLToPath(import.meta.url),
      "--export-child",
      MODEL!,
      dtype,
      out,
      optimize ? "optimize" : "plain",
      ...(calibration ? [calibration] : []),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (code !== 0) throw new Error(new TextDecoder().decode(stderr));
  const r = JSON.parse(new TextDecoder().decode(stdout)) as { seconds: number; peakMb: number };
  return { ...r, fileMb: (await Deno.stat(out)).size / 2 ** 20 };
}

const tmp = await Deno.makeTempDir();
const graphs: Record<string, string> = {
  pytorch: `${MODEL}/onnx/model.onnx`,
  f32: `${tmp}/f32/model.onnx`,
  opt: `${tmp}/opt/model.onnx`,
  q8: `${tmp}/q8/model.onnx`,
};
const exportRows = [];
for (
  const [name, dtype, optimize] of [["f32", "f32", false], ["opt", "f32", true], [
    "q8",
    "q8",
    false,
  ]] as const
) {
  const r = await timedExport(dtype, graphs[name], optimize);
  exportRows.push(
    `| ${dtype}${optimize ? " --optimize" : ""} | ${r.seconds.toFixed(2)} | ${
      r.peakMb.toFixed(0)
    } | ${r.fileMb.toFixed(1)} |`,
  );
}
const CALIBRATION = arg("calibration");
if (CALIBRATION) {
  const r = await timedExport("q4", `${tmp}/q4-gptq/model.onnx`, false, CALIBRATION);
  exportRows.push(
    `| q4, GPTQ on ${CALIBRATION.split("/").pop()} | ${r.seconds.toFixed(2)} | ${
      r.peakMb.toFixed(0)
    } | ${r.fileMb.toFixed(1)} |`,
  );
}
const model = await loadModel(MODEL);
const weightsMb = (await Deno.stat(`${MODEL}/model.safetensors`)).size / 2 ** 20;
console.log(`\nExport of ${MODEL} (model.safetensors ${weightsMb.toFixed(1)} MB)\n`);
console.log("| dtype | seconds | peak RSS MB | model.onnx MB |\n| --- | --- | --- | --- |");
console.log(exportRows.join("\n"));

/** Tokens/s of a greedy decode loop on one graph. */
async function decode(ep: "native" | "wasm", bytes: Uint8Array, B: number): Promise<number> {
  const { numLayers: L, numKvHeads: H, headDim: hd } = model.config;
  const backend = await loadOrtBackend(ep);
  const session = await backend.createSession(bytes, {
    graphOptimizationLevel: "all",
    logSeverityLevel: 3,
  });
  const i64 = (v: number[], dims: number[]) =>
    backend.tensor("int64", BigInt64Array.from(v, BigInt), dims);
  let past: OrtTensor[] = [];
  for (let i = 0; i < 2 * L; i++) {
    past.push(backend.tensor("float32", new Float32Array(0), [B, H, 0, hd]));
  }
  let tokens = new Array(B).fill(model.config.bosTokenId ?? 0);
  const t0 = performance.now();
  for (let t = 0; t < STEPS; t++) {
    const feeds: Record<string, OrtTensor> = {
      input_ids: i64(tokens, [B, 1]),
      attention_mask: i64(new Array(B * (t + 1)).fill(1), [B, t + 1]),
      position_ids: i64(new Array(B).fill(t), [B, 1]),
    };
    for (let l = 0; l < L; l++) {
      feeds[`past_key_values.${l}.key`] = past[2 * l];
      feeds[`past_key_values.${l}.value`] = past[2 * l + 1];
    }
    const out = await session.run(feeds);
    const logits = out.logits.data as Float32Array;
    const V = logits.length / B;
    tokens = tokens.map((_, b) => {
      let best = 0;
      for (let v = 1; v < V; v++) if (logits[b * V + v] > logits[b * V + best]) best = v;
      return best;
    });
    past = [];
    for (let l = 0; l < L; l++) past.push(out[`present.${l}.key`], out[`present.${l}.value`]);
  }
  const tps = (B * STEPS) / ((performance.now() - t0) / 1000);
  await session.release();
  return tps;
}

const bytes: Record<string, Uint8Array> = {};
for (const [k, p] of Object.entries(graphs)) bytes[k] = await Deno.readFile(p);
console.log(
  `\nDecode tokens/s, ${STEPS} steps after a 1-token prompt, best of ${REPEATS} after a warm-up\n`,
);
console.log(
  "| EP | batch | PyTorch f32 | ours f32 | ours f32 / PyTorch | ours --optimize | optimized / PyTorch | ours q8 | q8 / f32 |\n" +
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
);
for (const ep of EPS) {
  for (const B of BATCHES) {
    const best: Record<string, number> = { pytorch: 0, f32: 0, opt: 0, q8: 0 };
    // Run -1 warms each graph up (first-session costs) and is not counted.
    for (let r = -1; r < REPEATS; r++) {
      for (const k of Object.keys(best)) {
        const tps = await decode(ep, bytes[k], B);
        if (r >= 0) best[k] = Math.max(best[k], tps);
      }
    }
    console.log(
      `| ${ep} | ${B} | ${best.pytorch.toFixed(1)} | ${best.f32.toFixed(1)} | ${
        (best.f32 / best.pytorch).toFixed(2)
      } | ${best.opt.toFixed(1)} | ${(best.opt / best.pytorch).toFixed(2)} | ${
        best.q8.toFixed(1)
      } | ${(best.q8 / best.f32).toFixed(2)} |`,
    );
  }
}
await Deno.remove(tmp, { recursive: true });
