/**
 * `kernels/attention_forward.wgsl` and `kernels/attention_backward.wgsl` (software set),
 * `kernels/attention_tiled_forward.wgsl` and `kernels/attention_tiled_backward.wgsl` (hardware
 * set): causal attention over [prefix K/V ; token K/V] for one layer, and its gradients.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import type { BindingKind, BufferRange, GpuContext } from "./gpu_context.ts";
import { cdiv, checkDispatchRows, packUniform } from "./_uniform.ts";

/** The kernels keep one head's vectors in private arrays of this size. */
export const MAX_HEAD_DIM = 128;

/** Shapes of one attention call (letters as in docs/design.md). */
export interface AttentionShape {
  /** Batch rows. */
  B: number;
  /** Tokens per row. */
  T: number;
  /** Query heads. */
  H: number;
  /** Key/value heads, a divisor of H (grouped-query attention; default H, as in GPT-2). */
  kvHeads?: number;
  /** Head size. */
  hd: number;
  /** Prefix length (0 = no prefix). */
  P: number;
  /** Layer index l: the prefix slots are 2l (keys) and 2l + 1 (values). */
  layer: number;
}

const kvHeadsOf = (s: AttentionShape) => s.kvHeads ?? s.H;

/** Pack the shared uniform struct. `L` is the number of layers (S = 2 L D, D = Hkv hd). */
function pack(s: AttentionShape, L: number): ArrayBuffer {
  if (s.hd > MAX_HEAD_DIM) {
    throw new PrefixEdgeError(
      "UNSUPPORTED_MODEL",
      `Cannot run attention: head size ${s.hd} exceeds the kernels' limit of ${MAX_HEAD_DIM}`,
    );
  }
  const Hkv = kvHeadsOf(s);
  if (!Number.isInteger(Hkv) || Hkv < 1 || s.H % Hkv !== 0) {
    throw new PrefixEdgeError(
      "UNSUPPORTED_MODEL",
      `Cannot run attention: ${s.H} query heads are not a multiple of ${Hkv} key/value heads`,
    );
  }
  const Cq = s.H * s.hd, D = Hkv * s.hd;
  return packUniform("uuuuuuuuufuu", [
    s.B,
    s.T,
    s.H,
    s.hd,
    s.P,
    Cq,
    2 * L * D,
    2 * s.layer * D,
    (2 * s.layer + 1) * D,
    1 / Math.sqrt(s.hd),
    s.H / Hkv,
    D,
  ]);
}

/**
 * Attention forward; records into the caller's encoder.
 *
 * @example One token attends to one prefix token and itself
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { GpuContext } from "./gpu_context.ts";
 * const ctx = await GpuContext.create();
 * const up = (v: number[] | Uint32Array) => {
 *   const b = ctx.buffer(4 * v.length, "data");
 *   ctx.write(b, v instanceof Uint32Array ? v : new Float32Array(v));
 *   return b;
 * };
 * // B = T = H = 1, hd = 4, P = 1, one layer. q = 0, so both keys score the same.
 * const qkv = up([0, 0, 0, 0, 1, 1, 1, 1, 2, 4, 6, 8]); // q | k | v
 * const kv = up([5, 5, 5, 5, 0, 0, 2, 0]); // the prefix's k | v: [P, 2 L D]
 * const mask = up(new Uint32Array([1]));
 * const y = ctx.buffer(16, "y"), lse = ctx.buffer(4, "lse");
 * const att = await AttentionForward.create(ctx);
 * const enc = ctx.device.createCommandEncoder();
 * att.record(enc, { B: 1, T: 1, H: 1, hd: 4, P: 1, layer: 0 }, 1, { qkv, kv, mask, y, lse });
 * await ctx.submit(enc);
 * assertEquals(Array.from(await ctx.read(y)), [1, 2, 4, 4]); // the mean of the two values
 * ctx.destroy();
 * ```
 */
export class AttentionForward {
  private constructor(
    private ctx: GpuContext,
    private pipeline: GPUComputePipeline,
    private tiled: boolean,
  ) {}

  /**
   * Compile (cached per context): `attention_forward.wgsl` for the software set,
   * `attention_tiled_forward.wgsl` (K/V tiles shared by 64 query rows) for the hardware set.
   */
  static async create(ctx: GpuContext): Promise<AttentionForward> {
    const tiled = ctx.kernelSet.name === "hardware";
    const kernel = tiled ? "attention_tiled_forward" : "attention_forward";
    return new AttentionForward(
      ctx,
      await ctx.pipeline(kernel, "main", ["uniform", "read", "read", "read", "rw", "rw"]),
      tiled,
    );
  }

  /**
   * qkv: [B, T, Cq + 2D] (q | k | v; Cq = H hd, D = Hkv hd); kv: [P, 2LD] folded prefix;
   * mask: [B, T] u32; y: [B, T, Cq]; lse: [B, H, T].
   * Dispatch ceil(B*H*T / 64); tiled: (ceil(T / 64), B*H).
   */
  record(
    enc: GPUCommandEncoder,
    s: AttentionShape,
    numLayers: number,
    a: { qkv: BufferRange; kv: BufferRange; mask: BufferRange; y: BufferRange; lse: BufferRange },
  ): void {
    const u = this.ctx.uniform(pack(s, numLayers));
    const bg = this.ctx.bindGroup(this.pipeline, [u, a.qkv, a.kv, a.mask, a.y, a.lse]);
    if (this.tiled) checkDispatchRows(s.B * s.H, "attention_forward (B x H)");
    const grid: [number, number] = this.tiled
      ? [cdiv(s.T, 64), s.B * s.H]
      : [cdiv(s.B * s.H * s.T, 64), 1];
    this.ctx.dispatch(enc, "attention_forward", this.pipeline, bg, grid);
  }
}

/**
 * Attention backward (dq, dk, dv and the prefix's dK/dV); records into the caller's encoder.
 *
 * @example The prefix value's gradient when two keys share the attention evenly
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { GpuContext } from "./gpu_context.ts";
 * const ctx = await GpuContext.create();
 * const up = (v: number[] | Uint32Array) => {
 *   const b = ctx.buffer(4 * v.length, "data");
 *   ctx.write(b, v instanceof Uint32Array ? v : new Float32Array(v));
 *   return b;
 * };
 * const shape = { B: 1, T: 1, H: 1, hd: 4, P: 1, layer: 0 };
 * const qkv = up([0, 0, 0, 0, 1, 1, 1, 1, 2, 4, 6, 8]), kv = up([5, 5, 5, 5, 0, 0, 2, 0]);
 * const mask = up(new Uint32Array([1]));
 * const y = ctx.buffer(16, "y"), lse = ctx.buffer(4, "lse"), dy = up([2, 0, 0, 2]);
 * const dqkv = ctx.buffer(48, "dqkv"), dkv = up(new Array(8).fill(0)), dsum = ctx.buffer(4, "dsum");
 * const [att, ab] = [await AttentionForward.create(ctx), await AttentionBackward.create(ctx)];
 * const enc = ctx.device.createCommandEncoder();
 * att.record(enc, shape, 1, { qkv, kv, mask, y, lse });
 * ab.record(enc, shape, 1, { qkv, kv, mask, y, lse, dy, dqkv, dkv, dsum });
 * await ctx.submit(enc);
 * // Each value gets half of dy; dkv accumulates (micro-batches add up).
 * assertEquals(Array.from(await ctx.read(dkv)).slice(4), [1, 0, 0, 1]);
 * ctx.destroy();
 * ```
 */
export class AttentionBackward {
  #partial: GPUBuffer | null = null;

  private constructor(
    private ctx: GpuContext,
    private query: GPUComputePipeline,
    private key: GPUComputePipeline,
    private reduce: GPUComputePipeline | null,
  ) {}

  /**
   * Compile (cached per context): `attention_backward.wgsl` for the software set,
   * `attention_tiled_backward.wgsl` (query and key tiles in workgroup memory, the prefix's
   * per-row gradients reduced by a third pass) for the hardware set.
   */
  static async create(ctx: GpuContext): Promise<AttentionBackward> {
    const tiled = ctx.kernelSet.name === "hardware";
    const kernel = tiled ? "attention_tiled_backward" : "attention_backward";
    // qkv, kv, mask, y, lse, dy are read; dqkv, dkv, dsum written; the tiled kernel adds the
    // prefix partials at binding 10.
    const layout: BindingKind[] = ["uniform", "read", "read", "read", "read", "read", "read"];
    layout.push("rw", "rw", "rw", ...(tiled ? ["rw" as const] : [])); // dqkv, dkv, dsum, partial
    const [q, k, r] = await Promise.all([
      ctx.pipeline(kernel, "query_grad", layout),
      ctx.pipeline(kernel, "key_grad", layout),
      tiled ? ctx.pipeline(kernel, "prefix_reduce", layout) : null,
    ]);
    return new AttentionBackward(ctx, q, k, r);
  }

  /** The tiled kernel's [B, P, 2D] scratch, grown on demand (older ones stay until destroy). */
  #partialFor(floats: number): GPUBuffer {
    if (!this.#partial || this.#partial.size < 4 * floats) {
      this.#partial = this.ctx.buffer(4 * floats, "attention prefix partials");
    }
    return this.#partial;
  }

  /**
   * dy: [B, T, Cq]; writes dqkv [B, T, Cq + 2D]; adds the prefix's gradient into dkv [P, 2LD] at
   * this layer's slots; dsum: [B, H, T] scratch. Software: dispatch ceil(B*H*T / 64) then
   * ceil(Hkv*(P+B*T) / 64); hardware: (ceil(T / 64), B*H), (ceil((P+T) / 64), B*Hkv), then
   * ceil(P*2D / 64) when P > 0.
   */
  record(
    enc: GPUCommandEncoder,
    s: AttentionShape,
    numLayers: number,
    a: {
      qkv: BufferRange;
      kv: BufferRange;
      mask: BufferRange;
      y: BufferRange;
      lse: BufferRange;
      dy: BufferRange;
      dqkv: BufferRange;
      dkv: BufferRange;
      dsum: BufferRange;
    },
  ): void {
    const u = this.ctx.uniform(pack(s, numLayers));
    const entries = [u, a.qkv, a.kv, a.mask, a.y, a.lse, a.dy, a.dqkv, a.dkv, a.dsum];
    const Hkv = kvHeadsOf(s), D = Hkv * s.hd;
    if (this.reduce) {
      checkDispatchRows(s.B * s.H, "attention_backward (B x H)");
      entries.push(this.#partialFor(Math.max(1, s.B * s.P * 2 * D)));
    }
    const [queryGrid, keyGrid]: [number, number][] = this.reduce
      ? [[cdiv(s.T, 64), s.B * s.H], [cdiv(s.P + s.T, 64), s.B * Hkv]]
      : [[cdiv(s.B * s.H * s.T, 64), 1], [cdiv(Hkv * (s.P + s.B * s.T), 64), 1]];
    const bgq = this.ctx.bindGroup(this.query, entries);
    this.ctx.dispatch(enc, "attention_backward.query", this.query, bgq, queryGrid);
    const bgk = this.ctx.bindGroup(this.key, entries);
    this.ctx.dispatch(enc, "attention_backward.key", this.key, bgk, keyGrid);
    if (this.reduce && s.P > 0) {
      const bgr = this.ctx.bindGroup(this.reduce, entries);
      this.ctx.dispatch(enc, "attention_backward.prefix", this.reduce, bgr, [
        cdiv(s.P * 2 * D, 64),
      ]);
    }
  }
}
