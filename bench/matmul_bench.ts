/**
 * The WGSL tiled matmul (kernels/matmul_forward.wgsl and matmul_backward.wgsl) against
 * onnxruntime-node's native CPU MatMul on the same shapes, in one run, as GFLOP/s and a
 * ratio. The ONNX model is a one-node MatMul graph whose protobuf bytes are written here.
 * Each time is the best of `--reps` runs after a warm-up (the machine is usually shared).
 *
 * Usage: deno run -A bench/matmul_bench.ts [--reps N] [--shapes 1024x1024x1024,...]
 */
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-node";
import { GpuContext, MatmulBackward, MatmulForward } from "../src/gpu/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    reps: { type: "string", default: "3" },
    shapes: { type: "string", default: "1024x1024x1024,128x768x2304,128x3072x768" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log(
    "Usage: deno run -A bench/matmul_bench.ts [--reps N] [--shapes MxKxN,...]\n" +
      "Times Y[M,N] = X[M,K] W[K,N] on WebGPU (WGSL, tiled) and with onnxruntime-node (CPU).",
  );
  Deno.exit(0);
}
const reps = Number(values.reps);
const shapes = values.shapes!.split(",").map((s) => s.split("x").map(Number));
if (!(reps >= 1) || shapes.some((s) => s.length !== 3 || s.some((d) => !(d >= 1)))) {
  console.error("Cannot run the benchmark: --reps must be >= 1 and --shapes like 1024x1024x1024");
  Deno.exit(2);
}

// --- a minimal protobuf writer for a one-node ONNX MatMul model ------------------------
function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 127) {
    out.push((n & 127) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}
const key = (field: number, wire: number) => varint(field * 8 + wire);
const vint = (field: number, n: number) => [...key(field, 0), ...varint(n)];
const bytes = (field: number, b: number[]) => [...key(field, 2), ...varint(b.length), ...b];
const str = (field: number, s: string) => bytes(field, [...new TextEncoder().encode(s)]);

function valueInfo(name: string, dims: number[]): number[] {
  const shape = dims.flatMap((d) => bytes(1, vint(1, d))); // TensorShapeProto.dim.dim_value
  const tensorType = [...vint(1, 1), ...bytes(2, shape)]; // elem_type FLOAT, shape
  return [...str(1, name), ...bytes(2, bytes(1, tensorType))]; // name, type.tensor_type
}

function matmulModel(M: number, K: number, N: number): Uint8Array {
  const node = [
    ...str(1, "X"),
    ...str(1, "W"),
    ...str(2, "Y"),
    ...str(3, "mm"),
    ...str(4, "MatMul"),
  ];
  const graph = [
    ...bytes(1, node),
    ...str(2, "matmul"),
    ...bytes(11, valueInfo("X", [M, K])),
    ...bytes(11, valueInfo("W", [K, N])),
    ...bytes(12, valueInfo("Y", [M, N])),
  ];
  const opset = [...str(1, ""), ...vint(2, 13)];
  return new Uint8Array([...vint(1, 8), ...bytes(7, graph), ...bytes(8, opset)]);
}

// ---------------------------------------------------------------------------------------
function rand(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() - 0.5;
  return a;
}

const ctx = await GpuContext.create();
const mmF = await MatmulForward.create(ctx);
const mmB = await MatmulBackward.create(ctx);

async function timeGpu(record: (enc: GPUCommandEncoder) => void): Promise<number> {
  const run = async () => {
    const enc = ctx.device.createCommandEncoder();
    record(enc);
    await ctx.submit(enc);
    await ctx.device.queue.onSubmittedWorkDone();
  };
  await run(); // warm-up (pipeline, first-touch)
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await run();
    best = Math.min(best, performance.now() - t);
  }
  return best;
}

console.log(
  `| shape MxKxN | ORT native ms | ORT GFLOP/s | WGSL fwd ms | WGSL fwd GFLOP/s | WGSL bwd (dX=dY·Wᵀ) GFLOP/s | fwd / native |`,
);
console.log(`| --- | --- | --- | --- | --- | --- | --- |`);
for (const [M, K, N] of shapes) {
  const flop = 2 * M * K * N;
  const x = rand(M * K), w = rand(K * N);
  const session = await ort.InferenceSession.create(matmulModel(M, K, N));
  const feeds = {
    X: new ort.Tensor("float32", x, [M, K]),
    W: new ort.Tensor("float32", w, [K, N]),
  };
  const out = await session.run(feeds); // warm-up
  let ortMs = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await session.run(feeds);
    ortMs = Math.min(ortMs, performance.now() - t0);
  }

  const xb = ctx.buffer(M * K * 4, "x"), wb = ctx.buffer(K * N * 4, "w");
  const yb = ctx.buffer(M * N * 4, "y"), dxb = ctx.buffer(M * K * 4, "dx");
  ctx.write(xb, x);
  ctx.write(wb, w);
  const fwdMs = await timeGpu((enc) => mmF.record(enc, { x: xb, w: wb, y: yb, M, K, N }));
  // dX[M,K] = dY[M,N] · W[K,N]ᵀ: the same flop count.
  const bwdMs = await timeGpu((enc) => mmB.record(enc, { dy: yb, w: wb, dx: dxb, M, K, N }));
  // Sanity: the two engines agree.
  const got = await ctx.read(yb);
  const want = out.Y.data as Float32Array;
  let err = 0;
  for (let i = 0; i < got.length; i++) err = Math.max(err, Math.abs(got[i] - want[i]));
  if (err > 1e-3) console.error(`warning: WGSL and ORT differ by ${err} at ${M}x${K}x${N}`);
  const g = (ms: number) => (flop / ms / 1e6).toFixed(2);
  console.log(
    `| ${M}x${K}x${N} | ${ortMs.toFixed(1)} | ${g(ortMs)} | ${fwdMs.toFixed(1)} | ${g(fwdMs)} | ${
      g(bwdMs)
    } | ${(ortMs / fwdMs).toFixed(3)} |`,
  );
  await session.release();
}
const info = (await navigator.gpu.requestAdapter())?.info;
console.log(`\nadapter: ${info?.description || info?.vendor}; best of ${reps} runs each`);
ctx.destroy();
