/**
 * The two kernel sets side by side, per kernel: the same call recorded through a `software`
 * context and a `hardware` context (src/gpu/kernel_set.ts), timed on this adapter. On a CPU
 * adapter such as llvmpipe the software set should be the faster one; on a GPU, the hardware
 * set. Each case is named after its shape (GPT-2 small's matmuls at B·T rows, and its
 * attention).
 *
 * Usage: deno run -A bench/kernel_sets_bench.ts [--rows 1024] [--reps 5] [--tiny]
 *   --rows M    rows of the matmuls (B·T; default 1024 = B 8 x T 128)
 *   --reps N    dispatches per timing (the best of 3 timings is kept)
 *   --tiny      small shapes (to check the script, not to measure)
 */
import { parseArgs } from "node:util";
import {
  AttentionBackward,
  AttentionForward,
  type AttentionShape,
  GpuContext,
  KERNEL_SET_NAMES,
  type KernelSetName,
  MatmulXW,
  MatmulXWt,
} from "../src/gpu/mod.ts";
import { printHelpIfAsked } from "./_help.ts";

printHelpIfAsked(import.meta.url);
const { values } = parseArgs({
  args: Deno.args,
  options: {
    rows: { type: "string", default: "1024" },
    reps: { type: "string", default: "5" },
    tiny: { type: "boolean", default: false },
    help: { type: "boolean", short: "h" },
  },
});
const tiny = values.tiny!;
const M = tiny ? 64 : Number(values.rows), reps = tiny ? 1 : Number(values.reps);
if (![M, reps].every((v) => Number.isInteger(v) && v >= 1)) {
  console.error("Cannot run the benchmark: --rows and --reps must be positive integers");
  Deno.exit(2);
}
const C = tiny ? 64 : 768;

type Case = {
  name: string;
  setup: (ctx: GpuContext) => Promise<(enc: GPUCommandEncoder) => void>;
};
const buf = (ctx: GpuContext, floats: number) => ctx.buffer(4 * floats, "bench");

const matmul = (K: number, N: number, t: boolean): Case => ({
  name: `matmul_${t ? "xwt" : "xw"} ${M}x${K}x${N}`,
  setup: async (ctx) => {
    const x = buf(ctx, M * K), w = buf(ctx, K * N), y = buf(ctx, M * N), b = buf(ctx, N);
    if (t) {
      const mm = await MatmulXWt.create(ctx);
      return (enc) => mm.record(enc, { x, w, y, M, K, N });
    }
    const mm = await MatmulXW.create(ctx);
    return (enc) => mm.record(enc, { x, w, bias: b, y, M, K, N });
  },
});

const T = tiny ? 16 : 128, B = Math.max(1, Math.floor(M / T)), P = 10, H = tiny ? 4 : 12;
const att: AttentionShape = { B, T, H, hd: C / H, P, layer: 0 };
const attention = (backward: boolean): Case => ({
  name: `attention_${backward ? "backward" : "forward"} B${B} T${T} H${H} hd${C / H} P${P}`,
  setup: async (ctx) => {
    const qkv = buf(ctx, B * T * 3 * C), kv = buf(ctx, P * 2 * C), y = buf(ctx, B * T * C);
    const mask = ctx.buffer(4 * B * T, "mask");
    ctx.write(mask, new Uint32Array(B * T).fill(1));
    const lse = buf(ctx, B * H * T), dy = buf(ctx, B * T * C), dqkv = buf(ctx, B * T * 3 * C);
    const dkv = buf(ctx, P * 2 * C), dsum = buf(ctx, B * H * T);
    if (!backward) {
      const f = await AttentionForward.create(ctx);
      return (enc) => f.record(enc, att, 1, { qkv, kv, mask, y, lse });
    }
    const bw = await AttentionBackward.create(ctx);
    return (enc) => bw.record(enc, att, 1, { qkv, kv, mask, y, lse, dy, dqkv, dkv, dsum });
  },
});

const cases: Case[] = [
  matmul(C, 3 * C, false), // GPT-2 c_attn forward
  matmul(C, 4 * C, false), // c_fc forward
  matmul(4 * C, C, false), // c_proj (MLP) forward
  matmul(3 * C, C, true), // c_attn input gradient
  matmul(C, 4 * C, true), // c_fc input gradient
  attention(false),
  attention(true),
];

async function time(ctx: GpuContext, record: (enc: GPUCommandEncoder) => void) {
  const once = async () => {
    const enc = ctx.device.createCommandEncoder();
    for (let i = 0; i < reps; i++) record(enc);
    const t = performance.now();
    await ctx.submit(enc);
    await ctx.device.queue.onSubmittedWorkDone();
    return (performance.now() - t) / reps;
  };
  await once(); // warm-up (compilation, first-touch)
  return Math.min(await once(), await once(), await once());
}

const info = (await navigator.gpu.requestAdapter())?.info;
console.log(`adapter: ${info?.description || info?.vendor}`);
console.log(`\n| kernel (shape) | software ms | hardware ms | hardware / software |`);
console.log(`| --- | --- | --- | --- |`);
const ctxs = new Map<KernelSetName, GpuContext>();
for (const k of KERNEL_SET_NAMES) ctxs.set(k, await GpuContext.create({ kernels: k }));
try {
  for (const c of cases) {
    const ms: number[] = [];
    for (const k of KERNEL_SET_NAMES) {
      const ctx = ctxs.get(k)!;
      ms.push(await time(ctx, await c.setup(ctx)));
    }
    console.log(
      `| ${c.name} | ${ms[0].toFixed(2)} | ${ms[1].toFixed(2)} | ${(ms[1] / ms[0]).toFixed(2)} |`,
    );
  }
} finally {
  for (const ctx of ctxs.values()) ctx.destroy();
}
