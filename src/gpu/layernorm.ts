/**
 * `kernels/layernorm_forward.wgsl` and `kernels/layernorm_backward.wgsl`.
 *
 * @module
 */
import type { BufferRange, GpuContext } from "./gpu_context.ts";
import { checkDispatchRows, packUniform } from "./_uniform.ts";

/**
 * LayerNorm forward: y = (x - mean) * rstd * w + b, saving (mean, rstd) per row.
 *
 * @example Normalize one row of 4
 * ```ts
 * import { ok } from "node:assert";
 * import { GpuContext } from "./gpu_context.ts";
 * import { LayerNormForward } from "./layernorm.ts";
 * const ctx = await GpuContext.create();
 * const up = (v: number[]) => {
 *   const b = ctx.buffer(4 * v.length, "data");
 *   ctx.write(b, new Float32Array(v));
 *   return b;
 * };
 * const x = up([1, 2, 3, 4]), weight = up([1, 1, 1, 1]), bias = up([0, 0, 0, 0]);
 * const y = up([0, 0, 0, 0]), stats = up([0, 0]);
 * const ln = await LayerNormForward.create(ctx);
 * const enc = ctx.device.createCommandEncoder();
 * ln.record(enc, { x, weight, bias, y, stats, rows: 1, C: 4, eps: 0 });
 * await ctx.submit(enc);
 * const s = 1 / Math.sqrt(1.25); // mean 2.5, variance 1.25
 * const want = [-1.5 * s, -0.5 * s, 0.5 * s, 1.5 * s];
 * const out = await ctx.read(y), [mean] = await ctx.read(stats);
 * ok(mean === 2.5 && want.every((v, i) => Math.abs(out[i] - v) < 1e-6), `${out}`);
 * ctx.destroy();
 * ```
 */
export class LayerNormForward {
  private constructor(private ctx: GpuContext, private pipeline: GPUComputePipeline) {}

  /** Compile (cached per context). */
  static async create(ctx: GpuContext): Promise<LayerNormForward> {
    return new LayerNormForward(
      ctx,
      await ctx.pipeline("layernorm_forward", "main", [
        "uniform",
        "read",
        "read",
        "read",
        "rw",
        "rw",
      ]),
    );
  }

  /**
   * Record one LayerNorm. x, y: [rows, C]; weight, bias: [C]; stats: [rows, 2].
   * Dispatch (rows) workgroups of 64.
   */
  record(
    enc: GPUCommandEncoder,
    a: {
      x: BufferRange;
      weight: BufferRange;
      bias: BufferRange;
      y: BufferRange;
      stats: BufferRange;
      rows: number;
      C: number;
      eps: number;
    },
    label = "layernorm_forward",
  ): void {
    checkDispatchRows(a.rows, label);
    const u = this.ctx.uniform(packUniform("uufu", [a.rows, a.C, a.eps, 0]));
    const bg = this.ctx.bindGroup(this.pipeline, [u, a.x, a.weight, a.bias, a.y, a.stats]);
    this.ctx.dispatch(enc, label, this.pipeline, bg, [a.rows]);
  }
}

/**
 * LayerNorm backward: dx += input gradient (weights frozen).
 *
 * @example Into the residual gradient
 * ```ts
 * import { ok } from "node:assert";
 * import { GpuContext } from "./gpu_context.ts";
 * import { LayerNormBackward, LayerNormForward } from "./layernorm.ts";
 * const ctx = await GpuContext.create();
 * const up = (v: number[]) => {
 *   const b = ctx.buffer(4 * v.length, "data");
 *   ctx.write(b, new Float32Array(v));
 *   return b;
 * };
 * const x = up([1, 2, 3, 4]), weight = up([1, 1, 1, 1]), bias = up([0, 0, 0, 0]);
 * const y = up([0, 0, 0, 0]), stats = up([0, 0]);
 * const dy = up([1, 0, 0, 0]), residualGrad = up([1, 1, 1, 1]);
 * const ln = await LayerNormForward.create(ctx), lnb = await LayerNormBackward.create(ctx);
 * const enc = ctx.device.createCommandEncoder();
 * ln.record(enc, { x, weight, bias, y, stats, rows: 1, C: 4, eps: 0 });
 * lnb.record(enc, { dy, x, stats, weight, dx: residualGrad, rows: 1, C: 4 });
 * await ctx.submit(enc);
 * // dx += rstd * (dy - mean(dy) - xhat * mean(dy * xhat)), added to the 1s already there
 * const s = 1 / Math.sqrt(1.25), xhat = [-1.5 * s, -0.5 * s, 0.5 * s, 1.5 * s];
 * const want = [1, 0, 0, 0].map((g, i) => 1 + s * (g - 0.25 - xhat[i] * xhat[0] / 4));
 * const dx = await ctx.read(residualGrad);
 * ok(want.every((v, i) => Math.abs(dx[i] - v) < 1e-5), `${dx}`);
 * ctx.destroy();
 * ```
 */
export class LayerNormBackward {
  private constructor(private ctx: GpuContext, private pipeline: GPUComputePipeline) {}

  /** Compile (cached per context). */
  static async create(ctx: GpuContext): Promise<LayerNormBackward> {
    return new LayerNormBackward(
      ctx,
      await ctx.pipeline("layernorm_backward", "main", [
        "uniform",
        "read",
        "read",
        "read",
        "read",
        "rw",
      ]),
    );
  }

  /**
   * Record dx += LayerNorm input gradient. dy, x, dx: [rows, C]; stats: [rows, 2]; weight: [C].
   * Dispatch (rows) workgroups of 64.
   */
  record(
    enc: GPUCommandEncoder,
    a: {
      dy: BufferRange;
      x: BufferRange;
      stats: BufferRange;
      weight: BufferRange;
      dx: BufferRange;
      rows: number;
      C: number;
    },
    label = "layernorm_backward",
  ): void {
    checkDispatchRows(a.rows, label);
    const u = this.ctx.uniform(packUniform("uuuu", [a.rows, a.C, 0, 0]));
    const bg = this.ctx.bindGroup(this.pipeline, [u, a.dy, a.x, a.stats, a.weight, a.dx]);
    this.ctx.dispatch(enc, label, this.pipeline, bg, [a.rows]);
  }
}
