/**
 * `kernels/matmul_forward.wgsl`: Y[M,N] = X[M,K] · W[K,N] (+ bias) (+ Y), with
 * `kernels/matmul_forward_unaligned.wgsl` for shapes whose K or N is not a multiple of 4.
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
  private constructor(
    private ctx: GpuContext,
    private vec4: GPUComputePipeline,
    private unaligned: GPUComputePipeline,
  ) {}

  /** Compile (cached per context). */
  static async create(ctx: GpuContext): Promise<MatmulForward> {
    const layout = ["uniform", "read", "read", "read", "rw"] as const;
    const [vec4, unaligned] = await Promise.all([
      ctx.pipeline("matmul_forward", "main", [...layout]),
      ctx.pipeline("matmul_forward_unaligned", "main", [...layout]),
    ]);
    return new MatmulForward(ctx, vec4, unaligned);
  }

  /**
   * Record Y = X W (+ bias) (+ Y). K and N multiples of 4: `matmul_forward.wgsl`, dispatch
   * (ceil(N/128), ceil(M/32)); otherwise `matmul_forward_unaligned.wgsl`, (ceil(N/64), ceil(M/64)).
   */
  record(enc: GPUCommandEncoder, a: MatmulForwardArgs, label = "matmul_forward"): void {
    const flags = (a.bias ? 1 : 0) | (a.accumulate ? 2 : 0);
    const u = this.ctx.uniform(packUniform("uuuu", [a.M, a.K, a.N, flags]));
    const aligned = a.K % 4 === 0 && a.N % 4 === 0;
    const pipeline = aligned ? this.vec4 : this.unaligned;
    const bg = this.ctx.bindGroup(pipeline, [u, a.x, a.w, a.bias ?? a.w, a.y]);
    const grid: [number, number] = aligned
      ? [cdiv(a.N, 128), cdiv(a.M, 32)]
      : [cdiv(a.N, 64), cdiv(a.M, 64)];
    this.ctx.dispatch(enc, label, pipeline, bg, grid);
  }
}
