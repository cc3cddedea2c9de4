/**
 * `kernels/rmsnorm_forward.wgsl` and `kernels/rmsnorm_backward.wgsl` (Llama's RMSNorm).
 *
 * @module
 */
import type { BufferRange, GpuContext } from "./gpu_context.ts";
import { checkDispatchRows, packUniform } from "./_uniform.ts";

/**
 * RMSNorm forward: y = x * rstd * w, rstd = 1 / sqrt(mean(x²) + eps), saving rstd per row.
 *
 * @example Normalize 64 rows of 576
 * ```ts ignore
 * const rms = await RmsNormForward.create(ctx);
 * rms.record(enc, { x, weight, y, rstd, rows: 64, C: 576, eps: 1e-5 });
 * ```
 */
export class RmsNormForward {
  private constructor(private ctx: GpuContext, private pipeline: GPUComputePipeline) {}

  /** Compile (cached per context). */
  static async create(ctx: GpuContext): Promise<RmsNormForward> {
    return new RmsNormForward(
      ctx,
      await ctx.pipeline("rmsnorm_forward", "main", ["uniform", "read", "read", "rw", "rw"]),
    );
  }

  /**
   * Record one RMSNorm. x, y: [rows, C]; weight: [C]; rstd: [rows].
   * Dispatch (rows) workgroups of 64.
   */
  record(
    enc: GPUCommandEncoder,
    a: {
      x: BufferRange;
      weight: BufferRange;
      y: BufferRange;
      rstd: BufferRange;
      rows: number;
      C: number;
      eps: number;
    },
    label = "rmsnorm_forward",
  ): void {
    checkDispatchRows(a.rows, label);
    const u = this.ctx.uniform(packUniform("uufu", [a.rows, a.C, a.eps, 0]));
    const bg = this.ctx.bindGroup(this.pipeline, [u, a.x, a.weight, a.y, a.rstd]);
    this.ctx.dispatch(enc, label, this.pipeline, bg, [a.rows]);
  }
}

/**
 * RMSNorm backward: dx += input gradient (the weight is frozen).
 *
 * @example Into the residual gradient
 * ```ts ignore
 * const rmsB = await RmsNormBackward.create(ctx);
 * rmsB.record(enc, { dy, x, rstd, weight, dx: residualGrad, rows: 64, C: 576 });
 * ```
 */
export class RmsNormBackward {
  private constructor(private ctx: GpuContext, private pipeline: GPUComputePipeline) {}

  /** Compile (cached per context). */
  static async create(ctx: GpuContext): Promise<RmsNormBackward> {
    return new RmsNormBackward(
      ctx,
      await ctx.pipeline("rmsnorm_backward", "main", [
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
   * Record dx += RMSNorm input gradient. dy, x, dx: [rows, C]; rstd: [rows]; weight: [C].
   * Dispatch (rows) workgroups of 64.
   */
  record(
    enc: GPUCommandEncoder,
    a: {
      dy: BufferRange;
      x: BufferRange;
      rstd: BufferRange;
      weight: BufferRange;
      dx: BufferRange;
      rows: number;
      C: number;
    },
    label = "rmsnorm_backward",
  ): void {
    checkDispatchRows(a.rows, label);
    const u = this.ctx.uniform(packUniform("uuuu", [a.rows, a.C, 0, 0]));
    const bg = this.ctx.bindGroup(this.pipeline, [u, a.dy, a.x, a.rstd, a.weight, a.dx]);
    this.ctx.dispatch(enc, label, this.pipeline, bg, [a.rows]);
  }
}
