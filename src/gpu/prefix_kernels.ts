/**
 * `kernels/prefix_forward.wgsl` and `kernels/prefix_backward.wgsl`: the prefix
 * module on the GPU, over a flat parameter buffer. The module's four large
 * products (E W1, hidden W2, dR W2ᵀ, dZ W1ᵀ) run on the tiled matmul kernels;
 * the WGSL files hold the elementwise parts and the P-length reductions.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import type { BufferRange, GpuContext } from "./gpu_context.ts";
import { MatmulXW } from "./matmul_xw.ts";
import { MatmulXWt } from "./matmul_xwt.ts";
import { cdiv, packUniform } from "./_uniform.ts";

/** Shapes and parameter offsets of a prefix module (see prefix_forward.wgsl). */
export interface PrefixLayout {
  /** P: prefix tokens. */
  P: number;
  /** S = 2*L*D. */
  S: number;
  /** m: MLP width (0 for `none`). */
  m: number;
  /** K: width of E (d_model for mlp, S otherwise). */
  K: number;
  /** 0 none, 1 mlp, 2 residual. */
  reparam: 0 | 1 | 2;
  /** Whether the gate is on. */
  gate: boolean;
  /**
   * Offsets (in f32 elements) of E, W1, b1, W2, b2, a inside the flat buffers (0 when
   * absent). Each must be a multiple of 64 so that a parameter can be bound on its own
   * (256-byte storage offset alignment).
   */
  offsets: { E: number; W1: number; b1: number; W2: number; b2: number; a: number };
}

/** Workgroups for n threads of `size`, capped at one dispatch axis (the kernels grid-stride). */
function capped(n: number, size: number): number {
  return Math.min(cdiv(n, size), 65535);
}

function words(l: PrefixLayout): number[] {
  const o = l.offsets;
  return [l.P, l.S, l.m, l.K, l.reparam, l.gate ? 1 : 0, o.E, o.W1, o.b1, o.W2, o.b2, o.a];
}

function checkLayout(l: PrefixLayout) {
  for (const [name, o] of Object.entries(l.offsets)) {
    if (o % 64 !== 0) {
      throw new PrefixEdgeError(
        "INVALID_INPUT",
        `Cannot bind prefix parameter ${name}: its offset ${o} is not a multiple of 64 floats`,
      );
    }
  }
  if (l.P > 65535) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      `Cannot run the prefix module on the GPU: prefixLen ${l.P} exceeds 65535`,
    );
  }
}

/** A parameter's range inside a flat buffer. */
function slice(buf: BufferRange, offset: number, count: number): BufferRange {
  const buffer = buf instanceof GPUBuffer ? buf : buf.buffer;
  const base = buf instanceof GPUBuffer ? 0 : (buf.offset ?? 0);
  return { buffer, offset: base + offset * 4, size: count * 4 };
}

/**
 * Prefix module forward: params -> hidden [P,m], R [P,S], kv [P,S].
 *
 * @example Fold on the GPU
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { GpuContext } from "./gpu_context.ts";
 * import { PrefixForward, type PrefixLayout } from "./prefix_kernels.ts";
 * const ctx = await GpuContext.create();
 * // P = 1, S = 4, no reparameterization (R = E), a gate: E at offset 0, a at offset 64.
 * const offsets = { E: 0, W1: 0, b1: 0, W2: 0, b2: 0, a: 64 };
 * const layout: PrefixLayout = { P: 1, S: 4, m: 0, K: 4, reparam: 0, gate: true, offsets };
 * const flat = new Float32Array(128);
 * flat.set([1, 2, 3, 4], offsets.E); // a = 0: the gate is sigmoid(0) = 0.5
 * const params = ctx.buffer(flat.byteLength, "params");
 * ctx.write(params, flat);
 * const hidden = ctx.buffer(4, "hidden"), r = ctx.buffer(16, "r"), kv = ctx.buffer(16, "kv");
 * const pf = await PrefixForward.create(ctx);
 * const enc = ctx.device.createCommandEncoder();
 * pf.record(enc, layout, { params, hidden, r, kv });
 * await ctx.submit(enc);
 * assertEquals(Array.from(await ctx.read(kv)), [0.5, 1, 1.5, 2]); // kv = g * R
 * ctx.destroy();
 * ```
 */
export class PrefixForward {
  private constructor(
    private ctx: GpuContext,
    private mm: MatmulXW,
    private tanh: GPUComputePipeline,
    private output: GPUComputePipeline,
  ) {}

  /** Compile (cached per context). */
  static async create(ctx: GpuContext): Promise<PrefixForward> {
    const layout = ["uniform", "read", "rw", "rw", "rw"] as const;
    const [mm, t, o] = await Promise.all([
      MatmulXW.create(ctx),
      ctx.pipeline("prefix_forward", "tanh_main", [...layout]),
      ctx.pipeline("prefix_forward", "output_main", [...layout]),
    ]);
    return new PrefixForward(ctx, mm, t, o);
  }

  /** Record the fold: hidden = tanh(E W1 + b1) and R = hidden W2 + b2 (mlp/residual), then kv. */
  record(
    enc: GPUCommandEncoder,
    l: PrefixLayout,
    a: { params: BufferRange; hidden: BufferRange; r: BufferRange; kv: BufferRange },
  ): void {
    checkLayout(l);
    const { P, S, m, K, offsets: o } = l;
    const u = this.ctx.uniform(packUniform("uuuuuuuuuuuu", words(l)));
    const entries = [u, a.params, a.hidden, a.r, a.kv];
    if (l.reparam !== 0) {
      this.mm.record(enc, {
        x: slice(a.params, o.E, P * K),
        w: slice(a.params, o.W1, K * m),
        bias: slice(a.params, o.b1, m),
        y: a.hidden,
        M: P,
        K,
        N: m,
      }, "prefix_forward.E_W1");
      this.ctx.dispatch(
        enc,
        "prefix_forward.tanh",
        this.tanh,
        this.ctx.bindGroup(this.tanh, entries),
        [capped(P * m, 64)],
      );
      this.mm.record(enc, {
        x: a.hidden,
        w: slice(a.params, o.W2, m * S),
        bias: slice(a.params, o.b2, S),
        y: a.r,
        M: P,
        K: m,
        N: S,
      }, "prefix_forward.hidden_W2");
    }
    this.ctx.dispatch(
      enc,
      "prefix_forward.output",
      this.output,
      this.ctx.bindGroup(this.output, entries),
      [capped(P * S, 256)],
    );
  }
}

const BACKWARD_ENTRIES = ["gate_grad", "w2_grad", "tanh_grad", "w1_grad"] as const;
type BackwardEntry = typeof BACKWARD_ENTRIES[number];

/**
 * Prefix module backward: dkv (scaled) -> parameter gradients in the flat grads buffer.
 *
 * @example Gradient of the mean loss over 37 tokens
 * ```ts
 * import { ok } from "node:assert";
 * import { GpuContext } from "./gpu_context.ts";
 * import { PrefixBackward, PrefixForward, type PrefixLayout } from "./prefix_kernels.ts";
 * const ctx = await GpuContext.create();
 * const offsets = { E: 0, W1: 0, b1: 0, W2: 0, b2: 0, a: 64 };
 * const layout: PrefixLayout = { P: 1, S: 4, m: 0, K: 4, reparam: 0, gate: true, offsets };
 * const flat = new Float32Array(128);
 * flat.set([1, 2, 3, 4], offsets.E);
 * const buf = (data: Float32Array, label: string) => {
 *   const b = ctx.buffer(data.byteLength, label);
 *   ctx.write(b, data);
 *   return b;
 * };
 * const params = buf(flat, "params"), grads = ctx.buffer(flat.byteLength, "grads");
 * const dkv = buf(new Float32Array([37, 37, 37, 37]), "dkv"); // d(sum of losses) / d kv
 * const hidden = ctx.buffer(4, "hidden"), r = ctx.buffer(16, "r"), kv = ctx.buffer(16, "kv");
 * const dr = ctx.buffer(16, "dr"), dz = ctx.buffer(4, "dz");
 * const pf = await PrefixForward.create(ctx), pb = await PrefixBackward.create(ctx);
 * const enc = ctx.device.createCommandEncoder();
 * pf.record(enc, layout, { params, hidden, r, kv });
 * pb.record(enc, layout, 1 / 37, { params, hidden, r, dkv, dr, dz, grads });
 * await ctx.submit(enc);
 * // dE = g * dkv / 37 = 0.5 each; da = g (1 - g) * sum(dkv * R) / 37 = 0.25 * 10
 * const g = await ctx.read(grads);
 * const want = [[0, 0.5], [1, 0.5], [2, 0.5], [3, 0.5], [64, 2.5]];
 * ok(want.every(([i, v]) => Math.abs(g[i] - v) < 1e-5), `${g.slice(0, 4)} ${g[64]}`);
 * ctx.destroy();
 * ```
 */
export class PrefixBackward {
  private constructor(
    private ctx: GpuContext,
    private mm: MatmulXWt,
    private pipes: Record<BackwardEntry, GPUComputePipeline>,
  ) {}

  /** Compile (cached per context). */
  static async create(ctx: GpuContext): Promise<PrefixBackward> {
    const layout = ["uniform", "read", "read", "read", "read", "rw", "rw", "rw"] as const;
    const [mm, ...pipes] = await Promise.all([
      MatmulXWt.create(ctx),
      ...BACKWARD_ENTRIES.map((e) => ctx.pipeline("prefix_backward", e, [...layout])),
    ]);
    return new PrefixBackward(
      ctx,
      mm as MatmulXWt,
      Object.fromEntries(BACKWARD_ENTRIES.map((e, i) => [e, pipes[i]])) as Record<
        BackwardEntry,
        GPUComputePipeline
      >,
    );
  }

  /**
   * Record the gradients of `scale * dkv` into `grads` (same layout as params).
   * hidden, r: from {@link PrefixForward}; dr [P,S] and dz [P,m] are scratch.
   * `grads` must be a whole buffer (dR is copied into its E range).
   */
  record(
    enc: GPUCommandEncoder,
    l: PrefixLayout,
    scale: number,
    a: {
      params: BufferRange;
      hidden: BufferRange;
      r: BufferRange;
      dkv: BufferRange;
      dr: GPUBuffer;
      dz: BufferRange;
      grads: GPUBuffer;
    },
  ): void {
    checkLayout(l);
    const { P, S, m, K, offsets: o } = l;
    const u = this.ctx.uniform(
      packUniform("uuuuuuuuuuuufuuu", [...words(l), scale, 0, 0, 0]),
    );
    const entries = [u, a.params, a.hidden, a.r, a.dkv, a.dr, a.dz, a.grads];
    const run = (e: BackwardEntry, grid: number) =>
      this.ctx.dispatch(
        enc,
        `prefix_backward.${e}`,
        this.pipes[e],
        this.ctx.bindGroup(this.pipes[e], entries),
        [grid],
      );
    run("gate_grad", P);
    // dE starts as dR for none and residual (R contains E itself).
    if (l.reparam !== 1) enc.copyBufferToBuffer(a.dr, 0, a.grads, o.E * 4, P * S * 4);
    if (l.reparam === 0) return;
    run("w2_grad", capped(S, 64));
    this.mm.record(enc, {
      x: a.dr,
      w: slice(a.params, o.W2, m * S),
      y: a.dz,
      M: P,
      K: S,
      N: m,
    }, "prefix_backward.dR_W2t");
    run("tanh_grad", capped(P * m, 64));
    run("w1_grad", capped(K * m + m, 64));
    this.mm.record(enc, {
      x: a.dz,
      w: slice(a.params, o.W1, K * m),
      y: slice(a.grads, o.E, P * K),
      M: P,
      K: m,
      N: K,
      accumulate: l.reparam === 2,
    }, "prefix_backward.dZ_W1t");
  }
}
