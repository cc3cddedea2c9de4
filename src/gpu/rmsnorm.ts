/**
 * `kernels/rmsnorm_forward.wgsl` and `kernels/rmsnorm_backward.wgsl` (Llama's RMSNorm, and
 * Qwen3's per-head q/k norm: several vectors per row, rows a stride apart).
 *
 * @module
 */
import type { BufferRange, GpuContext } from "./gpu_context.ts";
import { checkDispatchRows, packUniform } from "./_uniform.ts";

/**
 * Where the normalized vectors sit: `groups` vectors of C per row, side by side from column
 * `offset`, rows `stride` apart (defaults: 1, C, 0: each row is one vector). rstd holds one
 * value per vector, row-major.
 */
export interface RmsNormLayout {
  /** Vectors per row (e.g. heads). */
  groups?: number;
  /** Row width of x, y, dy and dx. */
  stride?: number;
  /** Column of the first vector. */
  offset?: number;
}

function layoutWords(rows: number, C: number, l: RmsNormLayout, label: string) {
  const groups = l.groups ?? 1, stride = l.stride ?? C, offset = l.offset ?? 0;
  checkDispatchRows(rows, label);
  checkDispatchRows(groups, label);
  return { groups, stride, offset };
}

/**
 * RMSNorm forward: y = x * rstd * w, rstd = 1 / sqrt(mean(x²) + eps), saving rstd per row.
 *
 * @example Normalize one row of 4
 * ```ts
 * import { ok } from "node:assert";
 * import { GpuContext } from "./gpu_context.ts";
 * import { RmsNormForward } from "./rmsnorm.ts";
 * const ctx = await GpuContext.create();
 * const up = (v: number[]) => {
 *   const b = ctx.buffer(4 * v.length, "data");
 *   ctx.write(b, new Float32Array(v));
 *   return b;
 * };
 * const x = up([1, -1, 1, -1]), weight = up([1, 2, 3, 4]), y = up([0, 0, 0, 0]), rstd = up([0]);
 * const rms = await RmsNormForward.create(ctx);
 * const enc = ctx.device.createCommandEncoder();
 * rms.record(enc, { x, weight, y, rstd, rows: 1, C: 4, eps: 1e-5 });
 * await ctx.submit(enc);
 * const out = await ctx.read(y); // mean(x²) = 1, so y = x * weight
 * ok([1, -2, 3, -4].every((v, i) => Math.abs(out[i] - v) < 1e-4), `${out}`);
 * ctx.destroy();
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
   * Record one RMSNorm. x, y: [rows, C] (or as `layout` says); weight: [C]; rstd: one per
   * vector. Dispatch (groups, rows) workgroups of 64.
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
    } & RmsNormLayout,
    label = "rmsnorm_forward",
  ): void {
    const { groups, stride, offset } = layoutWords(a.rows, a.C, a, label);
    const u = this.ctx.uniform(
      packUniform("uufuuuuu", [a.rows, a.C, a.eps, groups, stride, offset, 0, 0]),
    );
    const bg = this.ctx.bindGroup(this.pipeline, [u, a.x, a.weight, a.y, a.rstd]);
    this.ctx.dispatch(enc, label, this.pipeline, bg, [groups, a.rows]);
  }
}

/**
 * RMSNorm backward: dx += input gradient (the weight is frozen).
 *
 * @example Into the residual gradient
 * ```ts
 * import { ok } from "node:assert";
 * import { GpuContext } from "./gpu_context.ts";
 * import { RmsNormBackward, RmsNormForward } from "./rmsnorm.ts";
 * const ctx = await GpuContext.create();
 * const up = (v: number[]) => {
 *   const b = ctx.buffer(4 * v.length, "data");
 *   ctx.write(b, new Float32Array(v));
 *   return b;
 * };
 * const x = up([1, -1, 1, -1]), weight = up([1, 1, 1, 1]), y = up([0, 0, 0, 0]), rstd = up([0]);
 * const dy = up([1, 0, 0, 0]), residualGrad = up([0, 0, 0, 0]);
 * const rms = await RmsNormForward.create(ctx), rmsB = await RmsNormBackward.create(ctx);
 * const enc = ctx.device.createCommandEncoder();
 * rms.record(enc, { x, weight, y, rstd, rows: 1, C: 4, eps: 0 });
 * rmsB.record(enc, { dy, x, rstd, weight, dx: residualGrad, rows: 1, C: 4 });
 * await ctx.submit(enc);
 * // dx = rstd * (w dy - x rstd² mean(w dy x)) = [1, 0, 0, 0] - x / 4
 * const dx = await ctx.read(residualGrad);
 * ok([0.75, 0.25, -0.25, 0.25].every((v, i) => Math.abs(dx[i] - v) < 1e-5), `${dx}`);
 * ctx.destroy();
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
   * Record dx += RMSNorm input gradient (dx = … with `accumulate: false`). dy, x, dx:
   * [rows, C] (or as `layout` says); rstd: one per vector; weight: [C].
   * Dispatch (groups, rows) workgroups of 64.
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
      /** Add into dx (default) or overwrite the vectors' columns. */
      accumulate?: boolean;
    } & RmsNormLayout,
    label = "rmsnorm_backward",
  ): void {
    const { groups, stride, offset } = layoutWords(a.rows, a.C, a, label);
    const acc = a.accumulate === false ? 0 : 1;
    const u = this.ctx.uniform(
      packUniform("uuuuuuuu", [a.rows, a.C, groups, stride, offset, acc, 0, 0]),
    );
    const bg = this.ctx.bindGroup(this.pipeline, [u, a.dy, a.x, a.rstd, a.weight, a.dx]);
    this.ctx.dispatch(enc, label, this.pipeline, bg, [groups, a.rows]);
  }
}
