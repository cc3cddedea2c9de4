/**
 * `kernels/bias_add.wgsl`: add a bias to every row (Qwen2's q/k/v biases). The backward into
 * the input is the identity and the bias is frozen, so there is no backward kernel.
 *
 * @module
 */
import type { BufferRange, GpuContext } from "./gpu_context.ts";
import { cdiv, checkDispatchRows, packUniform } from "./_uniform.ts";

/**
 * y[r, :] += bias; records into the caller's encoder.
 *
 * @example Add [bq; bk; bv] after the qkv projection
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { BiasAdd } from "./bias_add.ts";
 * import { GpuContext } from "./gpu_context.ts";
 * const ctx = await GpuContext.create();
 * const up = (v: number[]) => {
 *   const b = ctx.buffer(4 * v.length, "data");
 *   ctx.write(b, new Float32Array(v));
 *   return b;
 * };
 * const qkv = up([1, 2, 3, 4, 5, 6]), bqkv = up([10, 20, 30]); // 2 rows of [q | k | v]
 * const add = await BiasAdd.create(ctx);
 * const enc = ctx.device.createCommandEncoder();
 * add.record(enc, { bias: bqkv, y: qkv, rows: 2, N: 3 });
 * await ctx.submit(enc);
 * assertEquals(Array.from(await ctx.read(qkv)), [11, 22, 33, 14, 25, 36]);
 * ctx.destroy();
 * ```
 */
export class BiasAdd {
  private constructor(private ctx: GpuContext, private pipeline: GPUComputePipeline) {}

  /** Compile (cached per context). */
  static async create(ctx: GpuContext): Promise<BiasAdd> {
    return new BiasAdd(ctx, await ctx.pipeline("bias_add", "main", ["uniform", "read", "rw"]));
  }

  /** Record y[rows, N] += bias[N]. Dispatch (ceil(N / 64), rows). */
  record(
    enc: GPUCommandEncoder,
    a: { bias: BufferRange; y: BufferRange; rows: number; N: number },
    label = "bias_add",
  ): void {
    checkDispatchRows(a.rows, label);
    const u = this.ctx.uniform(packUniform("uu", [a.rows, a.N]));
    const bg = this.ctx.bindGroup(this.pipeline, [u, a.bias, a.y]);
    this.ctx.dispatch(enc, label, this.pipeline, bg, [cdiv(a.N, 64), a.rows]);
  }
}
