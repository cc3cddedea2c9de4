/**
 * `kernels/matmul_backward.wgsl`: dX[M,K] = dY[M,N] · W[K,N]ᵀ (+ dX). Also the
 * LM head's logits (h · wteᵀ).
 *
 * @module
 */
import type { BufferRange, GpuContext } from "./gpu_context.ts";
import { cdiv, packUniform } from "./_uniform.ts";

/** Arguments of {@link MatmulBackward.record}. */
export interface MatmulBackwardArgs {
  /** dY: [M, N] f32. */
  dy: BufferRange;
  /** W: [K, N] f32. */
  w: BufferRange;
  /** dX: [M, K] f32, written (or added into). */
  dx: BufferRange;
  /** Rows of the output. */
  M: number;
  /** See the shapes above. */
  K: number;
  /** See the shapes above. */
  N: number;
  /** Add into dX instead of overwriting it. */
  accumulate?: boolean;
}

/**
 * The tiled A·Bᵀ matmul; records into the caller's encoder.
 *
 * @example dX = dY Wᵀ
 * ```ts ignore
 * const mm = await MatmulBackward.create(ctx);
 * const enc = ctx.device.createCommandEncoder();
 * mm.record(enc, { dy, w, dx, M: 128, K: 768, N: 2304 });
 * await ctx.submit(enc);
 * ```
 */
export class MatmulBackward {
  private constructor(private ctx: GpuContext, private pipeline: GPUComputePipeline) {}

  /** Compile (cached per context). */
  static async create(ctx: GpuContext): Promise<MatmulBackward> {
    return new MatmulBackward(
      ctx,
      await ctx.pipeline("matmul_backward", "main", ["uniform", "read", "read", "rw"]),
    );
  }

  /** Record dX = dY Wᵀ (+ dX). Dispatch (ceil(K/64), ceil(M/64)). */
  record(enc: GPUCommandEncoder, a: MatmulBackwardArgs, label = "matmul_backward"): void {
    const u = this.ctx.uniform(packUniform("uuuu", [a.M, a.K, a.N, a.accumulate ? 2 : 0]));
    const bg = this.ctx.bindGroup(this.pipeline, [u, a.dy, a.w, a.dx]);
    this.ctx.dispatch(enc, label, this.pipeline, bg, [cdiv(a.K, 64), cdiv(a.M, 64)]);
  }
}
