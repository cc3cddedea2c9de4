/**
 * `kernels/rope_forward.wgsl`: rotary position embeddings (HF rotate_half), in place on the
 * q and k heads of a qkv buffer; `inverse` applies the transposed rotation (the backward).
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import type { BufferRange, GpuContext } from "./gpu_context.ts";
import { cdiv, checkDispatchRows, packUniform } from "./_uniform.ts";

/** Arguments of {@link Rope.record}. */
export interface RopeArgs {
  /** [maxPositions, hd / 2] cos table. */
  cos: BufferRange;
  /** [maxPositions, hd / 2] sin table. */
  sin: BufferRange;
  /** [rows, stride] f32, rotated in place: heads 0..heads-1 at columns h*hd.. */
  x: BufferRange;
  /** Rows B*T (row r = b*T + t sits at position P + t). */
  rows: number;
  /** Tokens per row. */
  T: number;
  /** Prefix length: the first real token's position. */
  P: number;
  /** Heads to rotate (query heads + key heads, contiguous from column 0). */
  heads: number;
  /** Head size (even). */
  hd: number;
  /** Row width of x. */
  stride: number;
  /** Rotate by -theta (the backward pass). */
  inverse?: boolean;
}

/**
 * RoPE in place; records into the caller's encoder.
 *
 * @example Rotate q and k (one head each, hd 2) at position 1, then undo it
 * ```ts
 * import { ok } from "node:assert";
 * import { GpuContext } from "./gpu_context.ts";
 * import { Rope } from "./rope.ts";
 * const ctx = await GpuContext.create();
 * const up = (v: number[]) => {
 *   const b = ctx.buffer(4 * v.length, "data");
 *   ctx.write(b, new Float32Array(v));
 *   return b;
 * };
 * // Tables [positions, hd / 2]: the angle is pos * theta^0 = pos.
 * const cos = up([1, Math.cos(1)]), sin = up([0, Math.sin(1)]);
 * const qkv = up([1, 0, 0, 1, 5, 5]); // one token: q | k | v; only q and k are rotated
 * const rope = await Rope.create(ctx);
 * const near = (a: Float32Array, b: number[]) => b.every((v, i) => Math.abs(a[i] - v) < 1e-6);
 * const args = { cos, sin, x: qkv, rows: 1, T: 1, P: 1, heads: 2, hd: 2, stride: 6 };
 * let enc = ctx.device.createCommandEncoder();
 * rope.record(enc, args);
 * await ctx.submit(enc);
 * const [c, s] = [Math.cos(1), Math.sin(1)];
 * ok(near(await ctx.read(qkv), [c, s, -s, c, 5, 5]));
 * enc = ctx.device.createCommandEncoder();
 * rope.record(enc, { ...args, inverse: true });
 * await ctx.submit(enc);
 * ok(near(await ctx.read(qkv), [1, 0, 0, 1, 5, 5]));
 * ctx.destroy();
 * ```
 */
export class Rope {
  private constructor(private ctx: GpuContext, private pipeline: GPUComputePipeline) {}

  /** Compile (cached per context). */
  static async create(ctx: GpuContext): Promise<Rope> {
    return new Rope(
      ctx,
      await ctx.pipeline("rope_forward", "main", ["uniform", "read", "read", "rw"]),
    );
  }

  /** Record the rotation. Dispatch (ceil(heads * hd / 2 / 64), rows). */
  record(enc: GPUCommandEncoder, a: RopeArgs, label = "rope"): void {
    if (a.hd % 2 !== 0) {
      throw new PrefixEdgeError("UNSUPPORTED_MODEL", `Cannot apply RoPE: head size ${a.hd} is odd`);
    }
    checkDispatchRows(a.rows, label);
    const u = this.ctx.uniform(
      packUniform("uuuuuuuu", [a.rows, a.T, a.P, a.heads, a.hd, a.stride, a.inverse ? 1 : 0, 0]),
    );
    const bg = this.ctx.bindGroup(this.pipeline, [u, a.cos, a.sin, a.x]);
    this.ctx.dispatch(enc, label, this.pipeline, bg, [cdiv(a.heads * a.hd / 2, 64), a.rows]);
  }
}
