/**
 * The hardware set's f16 matmuls (stage and multiply in f16, accumulate in f32). Everywhere: the
 * CPU emulation of their rounding (tests/reference/matmul_f16.ts) stays within the stated bound
 * of the exact product, and measurably away from it (so the emulation does round). On an adapter
 * with shader-f16: the kernels equal the emulation and stay within the bound of the f32 result
 * (X W with N not a multiple of 4 runs the f32 unaligned kernel, and equals the f32 product).
 */
import { assert } from "../_assert.ts";
import { relL2 } from "../_fixtures.ts";
import { adapterFacts, GpuContext, MatmulXW, MatmulXWt } from "../../src/gpu/mod.ts";
import { matmulXW, matmulXWt } from "../reference/matmul.ts";
import { f16Bound, matmulXWF16, matmulXWtF16 } from "../reference/matmul_f16.ts";

let seed = 777;
function rand(n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    out[i] = ((seed >>> 8) / (1 << 24) * 2 - 1) * scale;
  }
  return out;
}

/** Σ_k |x_mk w_kn| for every output (W as [K, N] when `t` is false, [N, K] when true). */
function absSums(x: Float32Array, w: Float32Array, M: number, K: number, N: number, t: boolean) {
  const ax = x.map(Math.abs), aw = w.map(Math.abs);
  return t ? matmulXWt(ax, aw, M, K, N) : matmulXW(ax, aw, null, M, K, N);
}

function withinBound(
  got: ArrayLike<number>,
  exact: ArrayLike<number>,
  abs: Float64Array,
  K: number,
) {
  let worst = 0;
  for (let i = 0; i < exact.length; i++) {
    worst = Math.max(worst, Math.abs(got[i] - exact[i]) / f16Bound(abs[i], K));
  }
  return worst; // <= 1 when every element is within the bound
}

// [M, K, N]: odd rows and columns, reductions longer than one 16-step stage.
const SHAPES = [[37, 52, 44], [65, 132, 68], [3, 200, 9]];

Deno.test("the f16 matmul emulation stays within the stated bound of the exact product, and rounds", () => {
  for (const [M, K, N] of SHAPES) {
    for (const scale of [1, 30]) {
      const x = rand(M * K, scale), w = rand(K * N), wt = rand(N * K);
      for (const t of [false, true]) {
        const exact = t ? matmulXWt(x, wt, M, K, N) : matmulXW(x, w, null, M, K, N);
        const got = t ? matmulXWtF16(x, wt, M, K, N) : matmulXWF16(x, w, null, M, K, N);
        const worst = withinBound(got, exact, absSums(x, t ? wt : w, M, K, N, t), K);
        assert(worst <= 1, `${M}x${K}x${N} t=${t}: error ${worst.toFixed(2)} x the bound`);
        const err = relL2(got, exact);
        assert(err > 1e-5, `${M}x${K}x${N}: relative L2 ${err.toExponential(2)}: no f16 rounding`);
        assert(err < 2e-3, `${M}x${K}x${N}: relative L2 ${err.toExponential(2)}`);
      }
    }
  }
});

const facts = await adapterFacts().catch(() => null);
const noF16 = !facts?.features.includes("shader-f16");

Deno.test({
  name: "the f16 tiled matmuls equal the CPU emulation and stay within the bound of f32",
  ignore: noF16,
  fn: async () => {
    const before = Deno.env.get("PREFIX_EDGE_F16");
    Deno.env.set("PREFIX_EDGE_F16", "1");
    const ctx = await GpuContext.create({ kernels: "hardware" });
    try {
      assert(ctx.kernelSet.f16, "the context did not turn f16 on");
      const xw = await MatmulXW.create(ctx), xwt = await MatmulXWt.create(ctx);
      const up = (a: Float32Array) => {
        const b = ctx.buffer(a.byteLength, "t");
        ctx.write(b, a);
        return b;
      };
      for (const [M, K, N] of SHAPES) {
        const x = rand(M * K), w = rand(K * N), bias = rand(N);
        const yb = ctx.buffer(4 * M * N, "y"), yt = ctx.buffer(4 * M * N, "yt");
        const enc = ctx.device.createCommandEncoder();
        xw.record(enc, { x: up(x), w: up(w), bias: up(bias), y: yb, M, K, N });
        xwt.record(enc, { x: up(x), w: up(w), y: yt, M, K, N }); // w read as [N, K]
        await ctx.submit(enc);
        const got = await ctx.read(yb), gotT = await ctx.read(yt);
        // Against the emulation: the same roundings in the same order (fma contraction aside).
        // X W with N not a multiple of 4 runs the unaligned kernel, which is f32 in every set
        // (matmul_xw.ts), so it must equal the f32 product instead.
        const exact = matmulXW(x, w, null, M, K, N).map((v, i) => v + bias[i % N]);
        const e1 = relL2(got, N % 4 === 0 ? matmulXWF16(x, w, bias, M, K, N) : exact);
        const e2 = relL2(gotT, matmulXWtF16(x, w, M, K, N));
        assert(e1 < 1e-5 && e2 < 1e-5, `${M}x${K}x${N}: vs emulation ${e1}, ${e2}`);
        // Against the f32 (exact) result: within the stated bound.
        const w1 = withinBound(got, exact, absSums(x, w, M, K, N, false), K);
        const w2 = withinBound(gotT, matmulXWt(x, w, M, K, N), absSums(x, w, M, K, N, true), K);
        assert(w1 <= 1 && w2 <= 1, `${M}x${K}x${N}: ${w1}, ${w2} x the bound`);
      }
    } finally {
      ctx.destroy();
      if (before === undefined) Deno.env.delete("PREFIX_EDGE_F16");
      else Deno.env.set("PREFIX_EDGE_F16", before);
    }
  },
});
