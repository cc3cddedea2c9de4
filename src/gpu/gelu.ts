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
 * ```ts ignore
 * const gelu = await GeluForward.create(ctx);
 * gelu.record(enc, { x: fc, y: act, n: M * 4 * C });
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
 * ```ts ignore
 * const gb = await GeluBackward.create(ctx);
 * gb.record(enc, { x: fc, dxy: dAct, n: M * 4 * C });
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
