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
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { EmbeddingForward } from "./embedding_forward.ts";
 * import { GpuContext } from "./gpu_context.ts";
 * const ctx = await GpuContext.create();
 * const up = (v: number[]) => {
 *   const b = ctx.buffer(4 * v.length, "data");
 *   ctx.write(b, new Float32Array(v));
 *   return b;
 * };
 * const ids = ctx.buffer(8, "ids");
 * ctx.write(ids, new Uint32Array([2, 0])); // one row of T = 2 tokens
 * const wte = up([0, 1, 10, 11, 20, 21]), wpe = up([0, 0, 0.5, 0.5, 1, 1]); // V = 3, C = 2
 * const x = up([0, 0, 0, 0]);
 * const emb = await EmbeddingForward.create(ctx);
 * const enc = ctx.device.createCommandEncoder();
 * emb.record(enc, { ids, wteChunk: wte, wpe, x, rows: 2, T: 2, C: 2, vStart: 0, vCount: 3, posOffset: 1 });
 * await ctx.submit(enc);
 * assertEquals(Array.from(await ctx.read(x)), [20.5, 21.5, 1, 2]); // wte[id] + wpe[1 + t]
 * ctx.destroy();
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
