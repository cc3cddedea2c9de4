/**
 * `kernels/matmul_xwt.wgsl`: Y[M,N] = X[M,K] · W[N,K]ᵀ (+ Y), with
 * `kernels/matmul_xwt_unaligned.wgsl` for shapes whose K is not a multiple of 4.
 * An HF Linear's forward (weights stored [out, in]), the LM head's logits (h · wteᵀ), and
 * the input gradient of GPT-2's Conv1D (weights stored [in, out]): dX = dY · Wᵀ.
 *
 * @module
 */
import type { BufferRange, GpuContext } from "./gpu_context.ts";
import { cdiv, packUniform } from "./_uniform.ts";
import { HARDWARE_MATMUL_TILE } from "./kernel_set.ts";

/** Arguments of {@link MatmulXWt.record}. */
export interface MatmulXWtArgs {
  /** X: [M, K] f32. */
  x: BufferRange;
  /** W: [N, K] f32 (each output column is a row of W). */
  w: BufferRange;
  /** Y: [M, N] f32, written (or added into). */
  y: BufferRange;
  /** Rows of X and Y. */
  M: number;
  /** The reduction length (columns of X and of W). */
  K: number;
  /** Rows of W, columns of Y. */
  N: number;
  /** Add into Y instead of overwriting it. */
  accumulate?: boolean;
}

/**
 * Y = X·Wᵀ (+ Y); records into the caller's encoder.
 *
 * @example Logits = h · wteᵀ (2 rows, a 3-token vocabulary)
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { GpuContext } from "./gpu_context.ts";
 * const ctx = await GpuContext.create();
 * const up = (v: number[]) => {
 *   const b = ctx.buffer(4 * v.length, "data");
 *   ctx.write(b, new Float32Array(v));
 *   return b;
 * };
 * const h = up([1, 2, 3, 4, 0, 1, 0, 1]); // [M = 2, K = 4]
 * const wte = up([1, 0, 0, 0, 0, 1, 0, 0, 1, 1, 1, 1]); // [N = 3, K = 4]
 * const logits = ctx.buffer(4 * 6, "logits");
 * const mm = await MatmulXWt.create(ctx);
 * const enc = ctx.device.createCommandEncoder();
 * mm.record(enc, { x: h, w: wte, y: logits, M: 2, K: 4, N: 3 });
 * await ctx.submit(enc);
 * assertEquals(Array.from(await ctx.read(logits)), [1, 2, 10, 0, 1, 2]);
 * ctx.destroy();
 * ```
 */
export class MatmulXWt {
  private constructor(
    private ctx: GpuContext,
    private vec4: GPUComputePipeline,
    private unaligned: GPUComputePipeline,
    private tiled: boolean,
  ) {}

  /** Compile (cached per context) the kernels of the context's kernel set. */
  static async create(ctx: GpuContext): Promise<MatmulXWt> {
    const layout = ["uniform", "read", "read", "rw"] as const;
    const [vec4, unaligned] = await Promise.all([
      ctx.pipeline(alignedKernel(ctx), "main", [...layout]),
      ctx.pipeline("matmul_xwt_unaligned", "main", [...layout]),
    ]);
    return new MatmulXWt(ctx, vec4, unaligned, ctx.kernelSet.name === "hardware");
  }

  /**
   * Record Y = X Wᵀ (+ Y). K a multiple of 4: `matmul_xwt.wgsl`, dispatch
   * (ceil(N/128), ceil(M/16)); otherwise `matmul_xwt_unaligned.wgsl`, (ceil(N/64), ceil(M/64)).
   */
  // Hardware set: aligned shapes run `matmul_xwt_tiled[_f16].wgsl` on (ceil(N/BN), ceil(M/BM)).
  record(enc: GPUCommandEncoder, a: MatmulXWtArgs, label = "matmul_xwt"): void {
    // The kernels' uniform is { M, N, K, flags }, with the letters of Y[M,N] = X[M,K] · W[N,K]ᵀ.
    const u = this.ctx.uniform(packUniform("uuuu", [a.M, a.N, a.K, a.accumulate ? 2 : 0]));
    const aligned = a.K % 4 === 0;
    const pipeline = aligned ? this.vec4 : this.unaligned;
    const bg = this.ctx.bindGroup(pipeline, [u, a.x, a.w, a.y]);
    const grid: [number, number] = aligned
      ? this.tiled
        ? [cdiv(a.N, HARDWARE_MATMUL_TILE.BN), cdiv(a.M, HARDWARE_MATMUL_TILE.BM)]
        : [cdiv(a.N, 128), cdiv(a.M, 16)]
      : [cdiv(a.N, 64), cdiv(a.M, 64)];
    this.ctx.dispatch(enc, label, pipeline, bg, grid);
  }
}

/** The aligned-shape kernel of the context's set: software `matmul_xwt`, hardware `matmul_xwt_tiled[_f16]`. */
function alignedKernel(ctx: GpuContext): string {
  const set = ctx.kernelSet;
  if (set.name === "software") return "matmul_xwt";
  return set.f16 ? "matmul_xwt_tiled_f16" : "matmul_xwt_tiled";
}
