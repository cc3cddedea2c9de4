/**
 * `kernels/gelu_forward.wgsl` and `kernels/gelu_backward.wgsl` (gelu_new).
 *
 * @module
 */
import type { BufferRange, GpuContext } from "./gpu_context.ts";
import { cdiv, packUniform } from "./_uniform.ts";

/** Blocks of 256 elements, 2-D past 65535 blocks (the kernels decode wg.y * 65535 + wg.x). */
function grid(n: number): [number, number] {
  const blocks = cdiv(n, 256);
  return blocks <= 65535 ? [blocks, 1] : [65535, cdiv(blocks, 65535)];
}

/**
 * gelu_new forward: y = gelu(x), n elements.
 *
 * @example Activate an MLP's hidden layer
 * ```ts
 * import { ok } from "node:assert";
 * import { GeluForward } from "./gelu.ts";
 * import { GpuContext } from "./gpu_context.ts";
 * const ctx = await GpuContext.create();
 * const up = (v: number[]) => {
 *   const b = ctx.buffer(4 * v.length, "data");
 *   ctx.write(b, new Float32Array(v));
 *   return b;
 * };
 * const xs = [-1, 0, 1, 2];
 * const fc = up(xs), act = up([0, 0, 0, 0]);
 * const gelu = await GeluForward.create(ctx);
 * const enc = ctx.device.createCommandEncoder();
 * gelu.record(enc, { x: fc, y: act, n: 4 });
 * await ctx.submit(enc);
 * const cpu = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
 * const y = await ctx.read(act);
 * ok(xs.every((x, i) => Math.abs(y[i] - cpu(x)) < 1e-5), `${y}`);
 * ctx.destroy();
 * ```
 */
export class GeluForward {
  private constructor(private ctx: GpuContext, private pipeline: GPUComputePipeline) {}

  /** Compile (cached per context). */
  static async create(ctx: GpuContext): Promise<GeluForward> {
    return new GeluForward(
      ctx,
      await ctx.pipeline("gelu_forward", "main", ["uniform", "read", "rw"]),
    );
  }

  /** Record y = gelu_new(x); x, y: [n]. */
  record(enc: GPUCommandEncoder, a: { x: BufferRange; y: BufferRange; n: number }): void {
    const u = this.ctx.uniform(packUniform("u", [a.n]));
    const bg = this.ctx.bindGroup(this.pipeline, [u, a.x, a.y]);
    this.ctx.dispatch(enc, "gelu_forward", this.pipeline, bg, grid(a.n));
  }
}

/**
 * gelu_new backward, in place: dxy *= gelu'(x).
 *
 * @example Through the MLP's activation
 * ```ts
 * import { ok } from "node:assert";
 * import { GeluBackward } from "./gelu.ts";
 * import { GpuContext } from "./gpu_context.ts";
 * const ctx = await GpuContext.create();
 * const up = (v: number[]) => {
 *   const b = ctx.buffer(4 * v.length, "data");
 *   ctx.write(b, new Float32Array(v));
 *   return b;
 * };
 * const xs = [-1, 0, 1, 2];
 * const fc = up(xs), dAct = up([1, 1, 1, 1]); // dL/dy in, dL/dx out
 * const gb = await GeluBackward.create(ctx);
 * const enc = ctx.device.createCommandEncoder();
 * gb.record(enc, { x: fc, dxy: dAct, n: 4 });
 * await ctx.submit(enc);
 * const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
 * const slope = (x: number) => (gelu(x + 1e-4) - gelu(x - 1e-4)) / 2e-4; // central difference
 * const d = await ctx.read(dAct);
 * ok(xs.every((x, i) => Math.abs(d[i] - slope(x)) < 1e-4), `${d}`);
 * ctx.destroy();
 * ```
 */
export class GeluBackward {
  private constructor(private ctx: GpuContext, private pipeline: GPUComputePipeline) {}

  /** Compile (cached per context). */
  static async create(ctx: GpuContext): Promise<GeluBackward> {
    return new GeluBackward(
      ctx,
      await ctx.pipeline("gelu_backward", "main", ["uniform", "read", "rw"]),
    );
  }

  /** Record dxy = dxy * gelu_new'(x); x, dxy: [n]. */
  record(enc: GPUCommandEncoder, a: { x: BufferRange; dxy: BufferRange; n: number }): void {
    const u = this.ctx.uniform(packUniform("u", [a.n]));
    const bg = this.ctx.bindGroup(this.pipeline, [u, a.x, a.dxy]);
    this.ctx.dispatch(enc, "gelu_backward", this.pipeline, bg, grid(a.n));
  }
}
