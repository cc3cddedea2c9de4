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
 * @example Two chunks of a vocabulary of 4
 * ```ts
 * import { ok } from "node:assert";
 * import { CrossEntropyForward } from "./cross_entropy.ts";
 * import { GpuContext } from "./gpu_context.ts";
 * const ctx = await GpuContext.create();
 * const up = (v: number[]) => {
 *   const b = ctx.buffer(4 * v.length, "data");
 *   ctx.write(b, new Float32Array(v));
 *   return b;
 * };
 * const targets = ctx.buffer(4, "targets");
 * ctx.write(targets, new Int32Array([2])); // one row, target token 2
 * const chunk0 = up([0, 0]), chunk1 = up([0, 0]), stats = up([0, 0, 0]); // logits of ids 0-1, 2-3
 * const ce = await CrossEntropyForward.create(ctx);
 * const enc = ctx.device.createCommandEncoder();
 * ce.record(enc, { logits: chunk0, targets, stats, rows: 1, Vc: 2, vStart: 0 });
 * ce.record(enc, { logits: chunk1, targets, stats, rows: 1, Vc: 2, vStart: 2 });
 * await ctx.submit(enc);
 * const [max, sum, target] = await ctx.read(stats);
 * const loss = max + Math.log(sum) - target; // uniform logits: log(4)
 * ok(Math.abs(loss - Math.log(4)) < 1e-6, `${loss}`);
 * ctx.destroy();
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
 * ```ts
 * import { ok } from "node:assert";
 * import { CrossEntropyBackward, CrossEntropyForward } from "./cross_entropy.ts";
 * import { GpuContext } from "./gpu_context.ts";
 * const ctx = await GpuContext.create();
 * const up = (v: number[]) => {
 *   const b = ctx.buffer(4 * v.length, "data");
 *   ctx.write(b, new Float32Array(v));
 *   return b;
 * };
 * const targets = ctx.buffer(4, "targets");
 * ctx.write(targets, new Int32Array([2]));
 * const logits = up([0, 0, 0, 0]), stats = up([0, 0, 0]); // one chunk: the whole vocabulary
 * const ce = await CrossEntropyForward.create(ctx), ceb = await CrossEntropyBackward.create(ctx);
 * const enc = ctx.device.createCommandEncoder();
 * ce.record(enc, { logits, targets, stats, rows: 1, Vc: 4, vStart: 0 });
 * ceb.record(enc, { targets, stats, logits, rows: 1, Vc: 4, vStart: 0 });
 * await ctx.submit(enc);
 * const d = await ctx.read(logits); // softmax - onehot(2)
 * ok([0.25, 0.25, -0.75, 0.25].every((v, i) => Math.abs(d[i] - v) < 1e-6), `${d}`);
 * ctx.destroy();
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
