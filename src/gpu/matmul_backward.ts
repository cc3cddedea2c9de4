/**
 * `kernels/matmul_backward.wgsl`: dX[M,K] = dY[M,N] · W[K,N]ᵀ (+ dX). Also the
 * LM head's logits (h · wteᵀ). `kernels/matmul_backward_unaligned.wgsl` serves shapes whose
 * N is not a multiple of 4.
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
  private constructor(
    private ctx: GpuContext,
    private vec4: GPUComputePipeline,
    private unaligned: GPUComputePipeline,
  ) {}

  /** Compile (cached per context). */
  static async create(ctx: GpuContext): Promise<MatmulBackward> {
    const layout = ["uniform", "read", "read", "rw"] as const;
    const [vec4, unaligned] = await Promise.all([
      ctx.pipeline("matmul_backward", "main", [...layout]),
      ctx.pipeline("matmul_backward_unaligned", "main", [...layout]),
    ]);
    return new MatmulBackward(ctx, vec4, unaligned);
  }

  /**
   * Record dX = dY Wᵀ (+ dX). N a multiple of 4: `matmul_backward.wgsl`, dispatch
   * (ceil(K/128), ceil(M/16)); otherwise `matmul_backward_unaligned.wgsl`, (ceil(K/64), ceil(M/64)).
   */
  record(enc: GPUCommandEncoder, a: MatmulBackwardArgs, label = "matmul_backward"): void {
    const u = this.ctx.uniform(packUniform("uuuu", [a.M, a.K, a.N, a.accumulate ? 2 : 0]));
    const aligned = a.N % 4 === 0;
    const pipeline = aligned ? this.vec4 : this.unaligned;
    const bg = this.ctx.bindGroup(pipeline, [u, a.dy, a.w, a.dx]);
    const grid: [number, number] = aligned
      ? [cdiv(a.K, 128), cdiv(a.M, 16)]
      : [cdiv(a.K, 64), cdiv(a.M, 64)];
    this.ctx.dispatch(enc, label, pipeline, bg, grid);
  }
}
