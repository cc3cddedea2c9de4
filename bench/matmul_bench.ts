/**
 * The WGSL matmuls (kernels/matmul_xw.wgsl and matmul_xwt.wgsl) against
 * onnxruntime-node's native CPU MatMul on the same shapes, in one run, as GFLOP/s and a
 * ratio. The ONNX model is a one-node MatMul graph whose protobuf bytes are written in TypeScript
 * (src/infer/_onnx_graph.ts).
 * Each time is the best of `--reps` runs after a warm-up (the machine is usually shared).
 *
 * Usage: deno run -A bench/matmul_bench.ts [--reps N] [--shapes 1024x1024x1024,...]
 *        deno run -A bench/matmul_bench.ts --variants [--reps N] [--shapes ...] [--only a,b]
 *          [--extra fwd:8:32:16:1,v4fwd:8:32:4:1:g,...]
 *
 * With `--variants`, it instead times the kernel variants of src/gpu/kernel_gen/variants.ts
 * interleaved: each round runs every variant once per shape, and each variant's time is its
 * best over `--reps` rounds, so that load from other jobs hits all variants alike. Ratios are
 * against `tiled` (kernels/matmul_*_unaligned.wgsl, the kernel shipped before), measured in
 * the same rounds. `--only a,b` keeps the variants whose name contains one of the given
 * substrings; `--extra` adds generated ones (see parseRb in the variants module). Every
 * variant's output is checked against the tiled kernel's. The last column is the pipeline
 * creation plus the first dispatch at the first shape, which includes llvmpipe's shader
 * compile unless Mesa's shader cache already holds it (MESA_SHADER_CACHE_DISABLE=true).
 */
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-node";
import { GpuContext, MatmulXW, MatmulXWt } from "../src/gpu/mod.ts";
import { matmulModel } from "./_measure.ts";
import { benchVariants, type Variant } from "../src/gpu/kernel_gen/variants.ts";
import { printHelpIfAsked } from "./_help.ts";

printHelpIfAsked(import.meta.url);

const { values } = parseArgs({
  args: Deno.args,
  options: {
    reps: { type: "string", default: "3" },
    shapes: { type: "string", default: "1024x1024x1024,128x768x2304,128x3072x768" },
    variants: { type: "boolean", default: false },
    only: { type: "string", default: "" },
    extra: { type: "string", default: "" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log(
    "Usage: deno run -A bench/matmul_bench.ts [--reps N] [--shapes MxKxN,...]\n" +
      "       deno run -A bench/matmul_bench.ts --variants [--reps N] [--shapes ...] [--only a,b]" +
      " [--extra kind:WG:R:J:U[:fma|:g],...]\n" +
      "Times Y[M,N] = X[M,K] W[K,N] on WebGPU (WGSL) and with onnxruntime-node (CPU); with\n" +
      "--variants, the kernel variants of src/gpu/kernel_gen/variants.ts, interleaved.",
  );
  Deno.exit(0);
}
const reps = Number(values.reps);
const shapes = values.shapes!.split(",").map((s) => s.split("x").map(Number));
if (!(reps >= 1) || shapes.some((s) => s.length !== 3 || s.some((d) => !(d >= 1)))) {
  console.error("Cannot run the benchmark: --reps must be >= 1 and --shapes like 1024x1024x1024");
  Deno.exit(2);
}

// ---------------------------------------------------------------------------------------
function rand(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() - 0.5;
  return a;
}

const ctx = await GpuContext.create();
if (values.variants) {
  await runVariants(
    await benchVariants(
      values.only ? values.only.split(",") : [],
      values.extra ? values.extra.split(",") : [],
    ),
  );
  ctx.destroy();
  Deno.exit(0);
}
const mmF = await MatmulXW.create(ctx);
const mmB = await MatmulXWt.create(ctx);

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
  // dX[M,K] = dY[M,N] · W[K,N]ᵀ (x·Wᵀ with the roles of K and N swapped): the same flop count.
  const bwdMs = await timeGpu((enc) => mmB.record(enc, { x: yb, w: wb, y: dxb, M, K: N, N: K }));
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

// --- variants, interleaved ---------------------------------------------------------------
async function runVariants(variants: Variant[]): Promise<void> {
  const dev = ctx.device;
  const layouts = {
    fwd: ["uniform", "read-only-storage", "read-only-storage", "read-only-storage", "storage"],
    bwd: ["uniform", "read-only-storage", "read-only-storage", "storage"],
  } as const;
  const pipes = new Map<Variant, GPUComputePipeline>();
  const compileMs = new Map<Variant, number>();
  for (const v of variants) {
    const t0 = performance.now();
    const bgl = dev.createBindGroupLayout({
      entries: layouts[v.kind].map((type, binding) => ({
        binding,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type },
      })),
    });
    dev.pushErrorScope("validation");
    const module = dev.createShaderModule({ label: v.name, code: v.code });
    const p = await dev.createComputePipelineAsync({
      layout: dev.createPipelineLayout({ bindGroupLayouts: [bgl] }),
      compute: { module, entryPoint: "main" },
    });
    const err = await dev.popErrorScope();
    if (err) throw new Error(`${v.name}: ${err.message}`);
    pipes.set(v, p);
    // llvmpipe compiles on first use, so the first dispatch is timed too (see the warm-up).
    compileMs.set(v, performance.now() - t0);
  }
  const best = new Map<string, number>();
  interface Setup {
    M: number;
    K: number;
    N: number;
    xb: GPUBuffer;
    wb: GPUBuffer;
    dyb: GPUBuffer;
    outs: Map<Variant, GPUBuffer>;
  }
  const setups: Setup[] = [];
  for (const [M, K, N] of shapes) {
    const x = rand(M * K), w = rand(K * N), dy = rand(M * N);
    const xb = ctx.buffer(M * K * 4, "x"), wb = ctx.buffer(K * N * 4, "w");
    const dyb = ctx.buffer(M * N * 4, "dy");
    ctx.write(xb, x);
    ctx.write(wb, w);
    ctx.write(dyb, dy);
    const outs = new Map<Variant, GPUBuffer>();
    for (const v of variants) outs.set(v, ctx.buffer((v.kind === "fwd" ? M * N : M * K) * 4, "o"));
    setups.push({ M, K, N, xb, wb, dyb, outs });
  }
  const runOne = async (v: Variant, s: Setup) => {
    const { M, K, N } = s;
    const p = pipes.get(v)!;
    const u = ctx.uniform(new Uint32Array([M, K, N, 0]).buffer);
    const o = s.outs.get(v)!;
    const entries = v.kind === "fwd" ? [u, s.xb, s.wb, s.wb, o] : [u, s.dyb, s.wb, o];
    const bg = ctx.bindGroup(p, entries);
    const enc = dev.createCommandEncoder();
    ctx.dispatch(enc, v.name, p, bg, v.grid(M, K, N));
    const t = performance.now();
    await ctx.submit(enc);
    await dev.queue.onSubmittedWorkDone();
    return performance.now() - t;
  };
  for (let round = 0; round <= reps; round++) {
    for (const s of setups) {
      for (const v of variants) {
        const ms = await runOne(v, s);
        if (round === 0) {
          // warm-up; the first dispatch of a pipeline includes the driver's shader compile
          if (s === setups[0]) compileMs.set(v, compileMs.get(v)! + ms);
          continue;
        }
        const key = `${v.name}|${s.M}x${s.K}x${s.N}`;
        best.set(key, Math.min(best.get(key) ?? Infinity, ms));
      }
    }
  }
  // Correctness against the shipped kernel of the same kind.
  for (const s of setups) {
    const ref = new Map<string, Float32Array>();
    for (const v of variants) {
      if (v.name.startsWith("tiled")) ref.set(v.kind, await ctx.read(s.outs.get(v)!));
    }
    for (const v of variants) {
      const want = ref.get(v.kind);
      if (!want) continue;
      const got = await ctx.read(s.outs.get(v)!);
      let err = 0;
      for (let i = 0; i < got.length; i++) err = Math.max(err, Math.abs(got[i] - want[i]));
      if (!(err <= 1e-3)) {
        console.error(`warning: ${v.name} differs by ${err} at ${s.M}x${s.K}x${s.N}`);
      }
    }
  }
  const head = shapes.map(([M, K, N]) => `${M}x${K}x${N}`);
  console.log(
    `| variant | ${head.map((h) => `${h} GFLOP/s | ×tiled`).join(" | ")} | compile + 1st run s |`,
  );
  console.log(`| --- | ${head.map(() => "--- | ---").join(" | ")} | --- |`);
  for (const v of variants) {
    const cells = shapes.map(([M, K, N]) => {
      const ms = best.get(`${v.name}|${M}x${K}x${N}`)!;
      const base = best.get(`tiled ${v.kind}|${M}x${K}x${N}`);
      const g = (2 * M * K * N) / ms / 1e6;
      return `${g.toFixed(2)} | ${base ? (base / ms).toFixed(2) : "-"}`;
    });
    console.log(`| ${v.name} | ${cells.join(" | ")} | ${(compileMs.get(v)! / 1000).toFixed(1)} |`);
  }
  const info = (await navigator.gpu.requestAdapter())?.info;
  console.log(
    `\nadapter: ${info?.description || info?.vendor}; best of ${reps} interleaved rounds`,
  );
}
