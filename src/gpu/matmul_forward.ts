/**
 * `kernels/matmul_forward.wgsl`: Y[M,N] = X[M,K] · W[K,N] (+ bias) (+ Y).
 *
 * @module
 */
import type { BufferRange, GpuContext } from "./gpu_context.ts";
import { cdiv, packUniform } from "./_uniform.ts";

/** Arguments of {@link MatmulForward.record}. */
export interface MatmulForwardArgs {
  /** X: [M, K] f32. */
  x: BufferRange;
  /** W: [K, N] f32 (HF Conv1D layout: [in, out]). */
  w: BufferRange;
  /** bias: [N] f32, optional. */
  bias?: BufferRange;
  /** Y: [M, N] f32, written (or added into). */
  y: BufferRange;
  /** Rows of the output. */
  M: number;
  /** See the shapes above. */
  K: number;
  /** See the shapes above. */
  N: number;
  /** Add into Y instead of overwriting it (a fused residual add). */
  accumulate?: boolean;
}

/**
 * The tiled matmul with bias; records into the caller's encoder.
 *
 * @example Y = X W + b
 * ```ts ignore
 * const mm = await MatmulForward.create(ctx);
 * const enc = ctx.device.createCommandEncoder();
 * mm.record(enc, { x, w, bias, y, M: 128, K: 768, N: 2304 });
 * await ctx.submit(enc);
 * ```
 */
export class MatmulForward {
  private constructor(private ctx: GpuContext, private pipeline: GPUComputePipeline) {}

  /** Compile (cached per context). */
  static async create(ctx: GpuContext): Promise<MatmulForward> {
    return new MatmulForward(
      ctx,
      await ctx.pipeline("matmul_forward", "main", ["uniform", "read", "read", "read", "rw"]),
    );
  }

  /** Record Y = X W (+ bias) (+ Y). Dispatch (ceil(N/64), ceil(M/64)). */
  record(enc: GPUCommandEncoder, a: MatmulForwardArgs, label = "matmul_forward"): void {
    const flags = (a.bias ? 1 : 0) | (a.accumulate ? 2 : 0);
    const u = this.ctx.uniform(packUniform("uuuu", [a.M, a.K, a.N, flags]));
    const bg = this.ctx.bindGroup(this.pipeline, [u, a.x, a.w, a.bias ?? a.w, a.y]);
    this.ctx.dispatch(enc, label, this.pipeline, bg, [cdiv(a.N, 64), cdiv(a.M, 64)]);
  }
}
