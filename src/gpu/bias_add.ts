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
 * ```ts ignore
 * const add = await BiasAdd.create(ctx);
 * add.record(enc, { bias: bqkv, y: qkv, rows: B * T, N: Cq + 2 * D });
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
