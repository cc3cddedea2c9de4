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
 * ```ts ignore
 * const sw = await SwigluForward.create(ctx);
 * sw.record(enc, { gu, y: act, rows: M, F: 1536 });
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
 * ```ts ignore
 * const swb = await SwigluBackward.create(ctx);
 * swb.record(enc, { gu, dy: dAct, dgu, rows: M, F: 1536 });
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
