/**
 * `kernels/embedding_forward.wgsl`: x = wte[ids] + wpe[P + t], one vocabulary chunk at a time.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import type { BufferRange, GpuContext } from "./gpu_context.ts";
import { cdiv, packUniform } from "./_uniform.ts";

/**
 * Token (+ learned position) embedding gather; records into the caller's encoder. Without
 * `wpe` (Llama: RoPE acts inside attention) only the token rows are gathered.
 *
 * @example One vocabulary chunk
 * ```ts ignore
 * const emb = await EmbeddingForward.create(ctx);
 * emb.record(enc, { ids, wteChunk: wte, wpe, x, rows: B * T, T, C, vStart: 0, vCount: V, posOffset: P });
 * ```
 */
export class EmbeddingForward {
  private constructor(private ctx: GpuContext, private pipeline: GPUComputePipeline) {}

  /** Compile (cached per context). */
  static async create(ctx: GpuContext): Promise<EmbeddingForward> {
    return new EmbeddingForward(
      ctx,
      await ctx.pipeline("embedding_forward", "main", ["uniform", "read", "read", "read", "rw"]),
    );
  }

  /**
   * Record the gather for rows whose id is in [vStart, vStart + vCount).
   * ids: [rows] u32; wteChunk: [vCount, C]; wpe: [maxPositions, C] or none; x: [rows, C].
   * Dispatch (ceil(C/64), rows).
   */
  record(
    enc: GPUCommandEncoder,
    a: {
      ids: BufferRange;
      wteChunk: BufferRange;
      wpe?: BufferRange;
      x: BufferRange;
      rows: number;
      T: number;
      C: number;
      vStart: number;
      vCount: number;
      posOffset: number;
    },
  ): void {
    if (a.rows > 65535) {
      throw new PrefixEdgeError(
        "INVALID_INPUT",
        `Cannot embed ${a.rows} tokens in one dispatch: the limit is 65535 (use a smaller batch x length)`,
      );
    }
    const u = this.ctx.uniform(
      packUniform("uuuuuuuu", [
        a.rows,
        a.T,
        a.C,
        a.vStart,
        a.vCount,
        a.posOffset,
        a.wpe ? 1 : 0,
        0,
      ]),
    );
    // Without positions the token chunk is bound in wpe's place (the kernel does not read it).
    const bg = this.ctx.bindGroup(this.pipeline, [u, a.ids, a.wteChunk, a.wpe ?? a.wteChunk, a.x]);
    this.ctx.dispatch(enc, "embedding_forward", this.pipeline, bg, [cdiv(a.C, 64), a.rows]);
  }
}
