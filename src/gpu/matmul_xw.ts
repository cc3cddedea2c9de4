/**
 * `kernels/matmul_xw.wgsl`: Y[M,N] = X[M,K] · W[K,N] (+ bias) (+ Y), with
 * `kernels/matmul_xw_unaligned.wgsl` for shapes whose K or N is not a multiple of 4.
 * GPT-2's Conv1D forward (weights stored [in, out]), and the input gradient of an HF Linear
 * (weights stored [out, in]): dX = dY · W.
 *
 * @module
 */
import type { BufferRange, GpuContext } from "./gpu_context.ts";
import { cdiv, packUniform } from "./_uniform.ts";
import { HARDWARE_MATMUL_TILE } from "./kernel_set.ts";

/** Arguments of {@link MatmulXW.record}. */
export interface MatmulXWArgs {
  /** X: [M, K] f32. */
  x: BufferRange;
  /** W: [K, N] f32. */
  w: BufferRange;
  /** bias: [N] f32, optional. */
  bias?: BufferRange;
  /** Y: [M, N] f32, written (or added into). */
  y: BufferRange;
  /** Rows of X and Y. */
  M: number;
  /** The reduction length (columns of X, rows of W). */
  K: number;
  /** Columns of W and Y. */
  N: number;
  /** Add into Y instead of overwriting it (a fused residual add). */
  accumulate?: boolean;
}

/**
 * Y = X·W (+ bias) (+ Y); records into the caller's encoder.
 *
 * @example Y = X W + b
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { GpuContext } from "./gpu_context.ts";
 * import { MatmulXW } from "./matmul_xw.ts";
 * const ctx = await GpuContext.create();
 * const up = (v: number[]) => {
 *   const b = ctx.buffer(4 * v.length, "data");
 *   ctx.write(b, new Float32Array(v));
 *   return b;
 * };
 * const x = up([1, 2, 3, 4, 5, 6]), w = up([1, 0, 0, 1, 1, 1]); // X [2, 3], W [3, 2]
 * const bias = up([10, 20]), y = up([0, 0, 0, 0]);
 * const mm = await MatmulXW.create(ctx);
 * const enc = ctx.device.createCommandEncoder();
 * mm.record(enc, { x, w, bias, y, M: 2, K: 3, N: 2 });
 * await ctx.submit(enc);
 * assertEquals(Array.from(await ctx.read(y)), [14, 25, 20, 31]);
 * ctx.destroy();
 * ```
 */
export class MatmulXW {
  private constructor(
    private ctx: GpuContext,
    private vec4: GPUComputePipeline,
    private unaligned: GPUComputePipeline,
    private tiled: boolean,
  ) {}

  /** Compile (cached per context) the kernels of the context's kernel set. */
  static async create(ctx: GpuContext): Promise<MatmulXW> {
    const layout = ["uniform", "read", "read", "read", "rw"] as const;
    const [vec4, unaligned] = await Promise.all([
      ctx.pipeline(alignedKernel(ctx), "main", [...layout]),
      ctx.pipeline("matmul_xw_unaligned", "main", [...layout]),
    ]);
    return new MatmulXW(ctx, vec4, unaligned, ctx.kernelSet.name === "hardware");
  }

  /**
   * Record Y = X W (+ bias) (+ Y). K and N multiples of 4: `matmul_xw.wgsl`, dispatch
   * (ceil(N/128), ceil(M/32)); otherwise `matmul_xw_unaligned.wgsl`, (ceil(N/64), ceil(M/64)).
   */
  // Hardware set: aligned shapes run `matmul_xw_tiled[_f16].wgsl` on (ceil(N/BN), ceil(M/BM)).
  record(enc: GPUCommandEncoder, a: MatmulXWArgs, label = "matmul_xw"): void {
    const flags = (a.bias ? 1 : 0) | (a.accumulate ? 2 : 0);
    const u = this.ctx.uniform(packUniform("uuuu", [a.M, a.K, a.N, flags]));
    const aligned = a.K % 4 === 0 && a.N % 4 === 0;
    const pipeline = aligned ? this.vec4 : this.unaligned;
    const bg = this.ctx.bindGroup(pipeline, [u, a.x, a.w, a.bias ?? a.w, a.y]);
    const grid: [number, number] = aligned
      ? this.tiled
        ? [cdiv(a.N, HARDWARE_MATMUL_TILE.BN), cdiv(a.M, HARDWARE_MATMUL_TILE.BM)]
        : [cdiv(a.N, 128), cdiv(a.M, 32)]
      : [cdiv(a.N, 64), cdiv(a.M, 64)];
    this.ctx.dispatch(enc, label, pipeline, bg, grid);
  }
}

/** The aligned-shape kernel of the context's set: software `matmul_xw`, hardware `matmul_xw_tiled[_f16]`. */
function alignedKernel(ctx: GpuContext): string {
  const set = ctx.kernelSet;
  if (set.name === "software") return "matmul_xw";
  return set.f16 ? "matmul_xw_tiled_f16" : "matmul_xw_tiled";
}
