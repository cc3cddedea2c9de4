/**
 * `kernels/cross_entropy_forward.wgsl` and `kernels/cross_entropy_backward.wgsl`:
 * softmax cross-entropy over one vocabulary chunk of logits at a time.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import type { BufferRange, GpuContext } from "./gpu_context.ts";
import { cdiv, packUniform } from "./_uniform.ts";

function checkRows(rows: number) {
  if (rows > 65535) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      `Cannot compute the loss of ${rows} tokens in one dispatch: the limit is 65535`,
    );
  }
}

/**
 * Merge one chunk into the running (max, sum of exp, target logit) statistics.
 *
 * @example The first of two chunks
 * ```ts ignore
 * const ce = await CrossEntropyForward.create(ctx);
 * ce.record(enc, { logits, targets, stats, rows: M, Vc: 25600, vStart: 0 });
 * ```
 */
export class CrossEntropyForward {
  private constructor(private ctx: GpuContext, private pipeline: GPUComputePipeline) {}

  /** Compile (cached per context). */
  static async create(ctx: GpuContext): Promise<CrossEntropyForward> {
    return new CrossEntropyForward(
      ctx,
      await ctx.pipeline("cross_entropy_forward", "main", ["uniform", "read", "read", "rw"]),
    );
  }

  /** logits: [rows, Vc] (columns vStart..); targets: [rows] i32; stats: [rows, 3]. Dispatch (rows). */
  record(
    enc: GPUCommandEncoder,
    a: {
      logits: BufferRange;
      targets: BufferRange;
      stats: BufferRange;
      rows: number;
      Vc: number;
      vStart: number;
    },
  ): void {
    checkRows(a.rows);
    const u = this.ctx.uniform(packUniform("uuuu", [a.rows, a.Vc, a.vStart, 0]));
    const bg = this.ctx.bindGroup(this.pipeline, [u, a.logits, a.targets, a.stats]);
    this.ctx.dispatch(enc, "cross_entropy_forward", this.pipeline, bg, [a.rows]);
  }
}

/**
 * dlogits = softmax - onehot (sum of token losses), in place over one chunk.
 *
 * @example After every chunk's forward
 * ```ts ignore
 * const ceb = await CrossEntropyBackward.create(ctx);
 * ceb.record(enc, { targets, stats, logits, rows: M, Vc: 25600, vStart: 0 });
 * ```
 */
export class CrossEntropyBackward {
  private constructor(private ctx: GpuContext, private pipeline: GPUComputePipeline) {}

  /** Compile (cached per context). */
  static async create(ctx: GpuContext): Promise<CrossEntropyBackward> {
    return new CrossEntropyBackward(
      ctx,
      await ctx.pipeline("cross_entropy_backward", "main", ["uniform", "read", "read", "rw"]),
    );
  }

  /** targets: [rows] i32; stats: [rows, 3]; logits: [rows, Vc] in/out. Dispatch (ceil(Vc/256), rows). */
  record(
    enc: GPUCommandEncoder,
    a: {
      targets: BufferRange;
      stats: BufferRange;
      logits: BufferRange;
      rows: number;
      Vc: number;
      vStart: number;
    },
  ): void {
    checkRows(a.rows);
    const u = this.ctx.uniform(packUniform("uuuu", [a.rows, a.Vc, a.vStart, 0]));
    const bg = this.ctx.bindGroup(this.pipeline, [u, a.targets, a.stats, a.logits]);
    this.ctx.dispatch(enc, "cross_entropy_backward", this.pipeline, bg, [cdiv(a.Vc, 256), a.rows]);
  }
}
