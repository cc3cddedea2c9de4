/**
 * `kernels/swiglu_forward.wgsl` and `kernels/swiglu_backward.wgsl`: Llama's gated MLP
 * activation y = silu(gate) * up over gu = [gate | up].
 *
 * @module
 */
import type { BufferRange, GpuContext } from "./gpu_context.ts";
import { cdiv, checkDispatchRows, packUniform } from "./_uniform.ts";

/**
 * SwiGLU forward: y[r, i] = silu(gu[r, i]) * gu[r, F + i].
 *
 * @example The MLP's activation
 * ```ts
 * import { ok } from "node:assert";
 * import { GpuContext } from "./gpu_context.ts";
 * import { SwigluForward } from "./swiglu.ts";
 * const ctx = await GpuContext.create();
 * const up = (v: number[]) => {
 *   const b = ctx.buffer(4 * v.length, "data");
 *   ctx.write(b, new Float32Array(v));
 *   return b;
 * };
 * const gu = up([0, 1, 5, 7]), act = up([0, 0]); // one row, F = 2: gate [0, 1] | up [5, 7]
 * const sw = await SwigluForward.create(ctx);
 * const enc = ctx.device.createCommandEncoder();
 * sw.record(enc, { gu, y: act, rows: 1, F: 2 });
 * await ctx.submit(enc);
 * const silu = (g: number) => g / (1 + Math.exp(-g));
 * const y = await ctx.read(act);
 * ok(y[0] === 0 && Math.abs(y[1] - silu(1) * 7) < 1e-5, `${y}`);
 * ctx.destroy();
 * ```
 */
export class SwigluForward {
  private constructor(private ctx: GpuContext, private pipeline: GPUComputePipeline) {}

  /** Compile (cached per context). */
  static async create(ctx: GpuContext): Promise<SwigluForward> {
    return new SwigluForward(
      ctx,
      await ctx.pipeline("swiglu_forward", "main", ["uniform", "read", "rw"]),
    );
  }

  /** Record y = silu(gate) * up; gu: [rows, 2F], y: [rows, F]. Dispatch (ceil(F/64), rows). */
  record(
    enc: GPUCommandEncoder,
    a: { gu: BufferRange; y: BufferRange; rows: number; F: number },
  ): void {
    checkDispatchRows(a.rows, "swiglu_forward");
    const u = this.ctx.uniform(packUniform("uuuu", [a.rows, a.F, 0, 0]));
    const bg = this.ctx.bindGroup(this.pipeline, [u, a.gu, a.y]);
    this.ctx.dispatch(enc, "swiglu_forward", this.pipeline, bg, [cdiv(a.F, 64), a.rows]);
  }
}

/**
 * SwiGLU backward: dgu = [d gate | d up] from dy.
 *
 * @example Through the MLP's activation
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { GpuContext } from "./gpu_context.ts";
 * import { SwigluBackward } from "./swiglu.ts";
 * const ctx = await GpuContext.create();
 * const up = (v: number[]) => {
 *   const b = ctx.buffer(4 * v.length, "data");
 *   ctx.write(b, new Float32Array(v));
 *   return b;
 * };
 * const gu = up([0, 2]), dAct = up([1]), dgu = up([0, 0]); // gate 0, up 2
 * const swb = await SwigluBackward.create(ctx);
 * const enc = ctx.device.createCommandEncoder();
 * swb.record(enc, { gu, dy: dAct, dgu, rows: 1, F: 1 });
 * await ctx.submit(enc);
 * // d gate = dy * up * silu'(0) = 2 * 0.5; d up = dy * silu(0) = 0
 * assertEquals(Array.from(await ctx.read(dgu)), [1, 0]);
 * ctx.destroy();
 * ```
 */
export class SwigluBackward {
  private constructor(private ctx: GpuContext, private pipeline: GPUComputePipeline) {}

  /** Compile (cached per context). */
  static async create(ctx: GpuContext): Promise<SwigluBackward> {
    return new SwigluBackward(
      ctx,
      await ctx.pipeline("swiglu_backward", "main", ["uniform", "read", "read", "rw"]),
    );
  }

  /** Record dgu from dy; gu, dgu: [rows, 2F], dy: [rows, F]. Dispatch (ceil(F/64), rows). */
  record(
    enc: GPUCommandEncoder,
    a: { gu: BufferRange; dy: BufferRange; dgu: BufferRange; rows: number; F: number },
  ): void {
    checkDispatchRows(a.rows, "swiglu_backward");
    const u = this.ctx.uniform(packUniform("uuuu", [a.rows, a.F, 0, 0]));
    const bg = this.ctx.bindGroup(this.pipeline, [u, a.gu, a.dy, a.dgu]);
    this.ctx.dispatch(enc, "swiglu_backward", this.pipeline, bg, [cdiv(a.F, 64), a.rows]);
  }
}
