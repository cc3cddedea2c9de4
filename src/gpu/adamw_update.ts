/**
 * `kernels/adamw_update.wgsl`: global grad-norm clipping and one AdamW step on
 * a flat parameter buffer.
 *
 * @module
 */
import type { BufferRange, GpuContext } from "./gpu_context.ts";
import { cdiv, packUniform } from "./_uniform.ts";

/** Hyperparameters of one AdamW step (torch.optim.AdamW semantics). */
export interface AdamWStepArgs {
  /** Learning rate. */
  lr: number;
  /** First-moment decay. */
  beta1: number;
  /** Second-moment decay. */
  beta2: number;
  /** Added to the denominator. */
  eps: number;
  /** Decoupled weight decay (p *= 1 - lr * weightDecay). */
  weightDecay: number;
  /** Global L2 clipping threshold; 0 turns clipping off. */
  maxGradNorm: number;
  /** 1-based step number t, for the bias corrections. */
  step: number;
}

/** Number of partial sums of the norm reduction. */
export const NORM_PARTIALS = 64;

/**
 * Records the norm reduction and the update; the norm lands in `norm[0]` for the host.
 *
 * @example Step 1 with clipping at 1.0
 * ```ts
 * import { ok } from "node:assert";
 * import { AdamWUpdate, NORM_PARTIALS } from "./adamw_update.ts";
 * import { GpuContext } from "./gpu_context.ts";
 * const ctx = await GpuContext.create();
 * const up = (v: number[]) => {
 *   const b = ctx.buffer(4 * v.length, "data");
 *   ctx.write(b, new Float32Array(v));
 *   return b;
 * };
 * const grads = up([3, 4]), params = up([1, 1]), m = up([0, 0]), v = up([0, 0]);
 * const partial = ctx.buffer(4 * NORM_PARTIALS, "partial"), norm = up([0]);
 * const adam = await AdamWUpdate.create(ctx);
 * const enc = ctx.device.createCommandEncoder();
 * adam.record(enc, 2, { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1, step: 1 },
 *   { grads, params, m, v, partial, norm });
 * await ctx.submit(enc);
 * // The norm before clipping is 5; Adam's first step moves each parameter by lr.
 * const [n] = await ctx.read(norm), p = await ctx.read(params);
 * ok(Math.abs(n - 5) < 1e-5 && p.every((x) => Math.abs(x - 0.9) < 1e-5), `${n} ${p}`);
 * ctx.destroy();
 * ```
 */
export class AdamWUpdate {
  private constructor(
    private ctx: GpuContext,
    private sumsq: GPUComputePipeline,
    private norm: GPUComputePipeline,
    private update: GPUComputePipeline,
  ) {}

  /** Compile (cached per context). */
  static async create(ctx: GpuContext): Promise<AdamWUpdate> {
    const layout = ["uniform", "read", "rw", "rw", "rw", "rw", "rw"] as const;
    const [s, n, u] = await Promise.all(
      ["sumsq", "norm_main", "update"].map((e) => ctx.pipeline("adamw_update", e, [...layout])),
    );
    return new AdamWUpdate(ctx, s, n, u);
  }

  /**
   * grads, params, m, v: [n]; partial: [NORM_PARTIALS]; norm: [1].
   * When the norm is not finite the update leaves everything unchanged.
   */
  record(
    enc: GPUCommandEncoder,
    n: number,
    h: AdamWStepArgs,
    a: {
      grads: BufferRange;
      params: BufferRange;
      m: BufferRange;
      v: BufferRange;
      partial: BufferRange;
      norm: BufferRange;
    },
  ): void {
    const bc1 = 1 - Math.pow(h.beta1, h.step);
    const bc2 = 1 - Math.pow(h.beta2, h.step);
    const u = this.ctx.uniform(
      packUniform("uuffffffffuu", [
        n,
        NORM_PARTIALS,
        h.lr,
        h.beta1,
        h.beta2,
        h.eps,
        h.weightDecay,
        h.maxGradNorm,
        h.lr / bc1,
        Math.sqrt(bc2),
        0,
        0,
      ]),
    );
    const entries = [u, a.grads, a.params, a.m, a.v, a.partial, a.norm];
    const bg = (p: GPUComputePipeline) => this.ctx.bindGroup(p, entries);
    this.ctx.dispatch(enc, "adamw.sumsq", this.sumsq, bg(this.sumsq), [NORM_PARTIALS]);
    this.ctx.dispatch(enc, "adamw.norm", this.norm, bg(this.norm), [1]);
    this.ctx.dispatch(enc, "adamw.update", this.update, bg(this.update), [
      Math.min(cdiv(n, 256), 4096),
    ]);
  }
}
