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
 * @example Normalize 64 rows of 768
 * ```ts ignore
 * const ln = await LayerNormForward.create(ctx);
 * ln.record(enc, { x, weight, bias, y, stats, rows: 64, C: 768, eps: 1e-5 });
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
 * ```ts ignore
 * const lnb = await LayerNormBackward.create(ctx);
 * lnb.record(enc, { dy, x, stats, weight, dx: residualGrad, rows: 64, C: 768 });
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
