/**
 * Every WGSL kernel against its CPU reference (tests/reference/), on small random shapes
 * that are not multiples of the tiles (odd sizes, edges, one-element cases).
 */
import { assert, assertEquals } from "../_assert.ts";
import { relL2 } from "../_fixtures.ts";
import {
  AdamWUpdate,
  AttentionBackward,
  AttentionForward,
  BiasAdd,
  CrossEntropyBackward,
  CrossEntropyForward,
  EmbeddingForward,
  GeluBackward,
  GeluForward,
  GpuContext,
  KERNEL_SET_NAMES,
  type KernelSetName,
  LayerNormBackward,
  LayerNormForward,
  MatmulXW,
  MatmulXWt,
  NORM_PARTIALS,
  PrefixBackward,
  PrefixForward,
  type PrefixLayout,
  RmsNormBackward,
  RmsNormForward,
  Rope,
  SwigluBackward,
  SwigluForward,
} from "../../src/gpu/mod.ts";
import { parseConfig, ropeTables } from "../../src/model/mod.ts";
import {
  rmsnormBackward,
  rmsnormForward,
  rmsnormGroupedBackward,
  rmsnormGroupedForward,
} from "../reference/rmsnorm.ts";
import { biasAdd } from "../reference/bias_add.ts";
import { rope } from "../reference/rope.ts";
import { swigluBackward, swigluForward } from "../reference/swiglu.ts";
import { matmulXW, matmulXWt } from "../reference/matmul.ts";
import { layernormBackward, layernormForward } from "../reference/layernorm.ts";
import { geluBackward, geluForward } from "../reference/gelu.ts";
import { embeddingForward } from "../reference/embedding.ts";
import { attentionBackward, type AttentionDims, attentionForward } from "../reference/attention.ts";
import { crossEntropy } from "../reference/cross_entropy.ts";
import { prefixBackward, type PrefixDims, prefixForward } from "../reference/prefix.ts";
import { adamwUpdate } from "../reference/adamw.ts";

let seed = 12345;
function rand(n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    out[i] = ((seed >>> 8) / (1 << 24) * 2 - 1) * scale;
  }
  return out;
}

async function withCtx(fn: (ctx: GpuContext) => Promise<void>, kernels?: KernelSetName) {
  const ctx = await GpuContext.create({ kernels });
  assertEquals(ctx.kernelSet.name, kernels ?? ctx.kernelSet.name);
  try {
    await fn(ctx);
  } finally {
    ctx.destroy();
  }
}

function up(ctx: GpuContext, data: Float32Array | Uint32Array | Int32Array): GPUBuffer {
  const b = ctx.buffer(data.byteLength, "test");
  ctx.write(b, data);
  return b;
}

async function run(ctx: GpuContext, record: (enc: GPUCommandEncoder) => void) {
  const enc = ctx.device.createCommandEncoder();
  record(enc);
  await ctx.submit(enc);
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string) {
  assertEquals(actual.length, expected.length, `${what}: length`);
  const err = relL2(actual, expected);
  assert(err < tol, `${what}: relative L2 error ${err.toExponential(2)} >= ${tol}`);
}

for (const kernels of KERNEL_SET_NAMES) {
  Deno.test(`matmul_xw (${kernels} kernels) matches the reference on odd shapes, with bias and accumulation`, async () => {
    await withCtx(async (ctx) => {
      const mm = await MatmulXW.create(ctx);
      // K, N multiples of 4 run matmul_xw.wgsl (32 x 128 tiles: partial tiles in both
      // dimensions, several workgroups along N) or, hardware, matmul_xw_tiled.wgsl (64 x 64
      // tiles, 16 reduction steps per stage: partial stages, several workgroups both ways); the
      // others run matmul_xw_unaligned.wgsl.
      const aligned = [[1, 4, 4], [37, 52, 44], [17, 8, 260], [33, 68, 132], [130, 36, 132]];
      const unaligned = [[1, 1, 1], [37, 53, 29], [65, 130, 67], [130, 17, 200], [5, 8, 6]];
      for (const [M, K, N] of [...aligned, ...unaligned]) {
        for (const flags of [0, 1, 3]) {
          const x = rand(M * K), w = rand(K * N), bias = rand(N), y0 = rand(M * N);
          const xb = up(ctx, x), wb = up(ctx, w), bb = up(ctx, bias), yb = up(ctx, y0);
          await run(ctx, (enc) =>
            mm.record(enc, {
              x: xb,
              w: wb,
              bias: flags & 1 ? bb : undefined,
              y: yb,
              M,
              K,
              N,
              accumulate: (flags & 2) !== 0,
            }));
          const want = matmulXW(
            x,
            w,
            flags & 1 ? bias : null,
            M,
            K,
            N,
            flags & 2 ? y0 : undefined,
          );
          close(await ctx.read(yb), want, 1e-5, `matmul_xw ${M}x${K}x${N} flags ${flags}`);
        }
      }
    }, kernels);
  });

  Deno.test(`matmul_xwt (${kernels} kernels) matches the reference on odd shapes, with accumulation`, async () => {
    await withCtx(async (ctx) => {
      const mm = await MatmulXWt.create(ctx);
      // [M, K, N]: K a multiple of 4 runs matmul_xwt.wgsl (16 x 128 tiles, several workgroups
      // along N in the third shape) or, hardware, matmul_xwt_tiled.wgsl (64 x 64 tiles); the
      // others run matmul_xwt_unaligned.wgsl.
      const aligned = [[1, 4, 1], [37, 28, 53], [19, 8, 260], [130, 20, 200]];
      const unaligned = [[1, 1, 1], [37, 29, 53], [65, 67, 130], [130, 17, 200]];
      for (const [M, K, N] of [...aligned, ...unaligned]) {
        for (const accumulate of [false, true]) {
          const x = rand(M * K), w = rand(N * K), y0 = rand(M * N);
          const xb = up(ctx, x), wb = up(ctx, w), yb = up(ctx, y0);
          await run(ctx, (enc) => mm.record(enc, { x: xb, w: wb, y: yb, M, K, N, accumulate }));
          const want = matmulXWt(x, w, M, K, N, accumulate ? y0 : undefined);
          close(await ctx.read(yb), want, 1e-5, `matmul_xwt ${M}x${K}x${N} acc ${accumulate}`);
        }
      }
    }, kernels);
  });
}

Deno.test("layernorm forward and backward match the reference", async () => {
  await withCtx(async (ctx) => {
    const lnF = await LayerNormForward.create(ctx);
    const lnB = await LayerNormBackward.create(ctx);
    for (const [rows, C] of [[1, 1], [7, 45], [3, 130]]) {
      const x = rand(rows * C, 2),
        w = rand(C),
        b = rand(C),
        dy = rand(rows * C),
        dx0 = rand(rows * C);
      const xb = up(ctx, x), wb = up(ctx, w), bb = up(ctx, b);
      const yb = ctx.buffer(rows * C * 4, "y"), sb = ctx.buffer(rows * 8, "stats");
      const dyb = up(ctx, dy), dxb = up(ctx, dx0);
      await run(ctx, (enc) => {
        lnF.record(enc, { x: xb, weight: wb, bias: bb, y: yb, stats: sb, rows, C, eps: 1e-5 });
        lnB.record(enc, { dy: dyb, x: xb, stats: sb, weight: wb, dx: dxb, rows, C });
      });
      const ref = layernormForward(x, w, b, rows, C, 1e-5);
      close(await ctx.read(yb), ref.y, 1e-5, `layernorm_forward ${rows}x${C}`);
      close(await ctx.read(sb), ref.stats, 1e-5, `layernorm stats ${rows}x${C}`);
      const want = layernormBackward(dy, x, w, rows, C, 1e-5, dx0);
      close(await ctx.read(dxb), want, 1e-5, `layernorm_backward ${rows}x${C}`);
    }
  });
});

Deno.test("rmsnorm forward and backward match the reference", async () => {
  await withCtx(async (ctx) => {
    const rF = await RmsNormForward.create(ctx);
    const rB = await RmsNormBackward.create(ctx);
    for (const [rows, C] of [[1, 1], [7, 45], [3, 130]]) {
      const x = rand(rows * C, 2), w = rand(C), dy = rand(rows * C), dx0 = rand(rows * C);
      const xb = up(ctx, x), wb = up(ctx, w), dyb = up(ctx, dy), dxb = up(ctx, dx0);
      const yb = ctx.buffer(rows * C * 4, "y"), rb = ctx.buffer(rows * 4, "rstd");
      await run(ctx, (enc) => {
        rF.record(enc, { x: xb, weight: wb, y: yb, rstd: rb, rows, C, eps: 1e-5 });
        rB.record(enc, { dy: dyb, x: xb, rstd: rb, weight: wb, dx: dxb, rows, C });
      });
      const ref = rmsnormForward(x, w, rows, C, 1e-5);
      close(await ctx.read(yb), ref.y, 1e-5, `rmsnorm_forward ${rows}x${C}`);
      close(await ctx.read(rb), ref.rstd, 1e-5, `rmsnorm rstd ${rows}x${C}`);
      const want = rmsnormBackward(dy, x, w, rows, C, 1e-5, dx0);
      close(await ctx.read(dxb), want, 1e-5, `rmsnorm_backward ${rows}x${C}`);
    }
  });
});

Deno.test("rmsnorm over heads inside wider rows (Qwen3's q/k norm) matches the reference", async () => {
  await withCtx(async (ctx) => {
    const rF = await RmsNormForward.create(ctx);
    const rB = await RmsNormBackward.create(ctx);
    // rows, head size, heads, row stride, first column; accumulate or overwrite dx.
    const shapes: [number, number, number, number, number, boolean][] = [
      [5, 24, 4, 144, 0, false],
      [3, 7, 2, 40, 21, true],
      [1, 1, 1, 3, 2, false],
    ];
    for (const [rows, C, groups, stride, offset, accumulate] of shapes) {
      const l = { rows, C, groups, stride, offset };
      const x = rand(rows * stride, 2), w = rand(C), y0 = rand(rows * stride);
      const dy = rand(rows * stride), dx0 = rand(rows * stride);
      const xb = up(ctx, x), wb = up(ctx, w), yb = up(ctx, y0), dyb = up(ctx, dy);
      const dxb = up(ctx, dx0), rb = ctx.buffer(rows * groups * 4, "rstd");
      await run(ctx, (enc) => {
        rF.record(enc, { ...l, x: xb, weight: wb, y: yb, rstd: rb, eps: 1e-6 });
        rB.record(enc, { ...l, dy: dyb, x: xb, rstd: rb, weight: wb, dx: dxb, accumulate });
      });
      const what = `${rows}x${groups}x${C} in rows of ${stride} at ${offset}`;
      const ref = rmsnormGroupedForward(x, w, l, 1e-6, y0);
      close(await ctx.read(yb), ref.y, 1e-5, `grouped rmsnorm_forward ${what}`);
      close(await ctx.read(rb), ref.rstd, 1e-5, `grouped rmsnorm rstd ${what}`);
      const want = rmsnormGroupedBackward(dy, x, w, l, 1e-6, dx0, accumulate);
      close(await ctx.read(dxb), want, 1e-5, `grouped rmsnorm_backward ${what}`);
    }
  });
});

Deno.test("bias_add matches the reference", async () => {
  await withCtx(async (ctx) => {
    const add = await BiasAdd.create(ctx);
    for (const [rows, N] of [[1, 1], [7, 65], [3, 200]]) {
      const y0 = rand(rows * N), bias = rand(N);
      const yb = up(ctx, y0), bb = up(ctx, bias);
      await run(ctx, (enc) => add.record(enc, { bias: bb, y: yb, rows, N }));
      close(await ctx.read(yb), biasAdd(y0, bias, rows, N), 1e-6, `bias_add ${rows}x${N}`);
    }
  });
});

Deno.test("rope rotates q and k heads like the reference, and its inverse undoes it", async () => {
  await withCtx(async (ctx) => {
    const rp = await Rope.create(ctx);
    const theta = 500;
    const config = parseConfig({
      model_type: "llama",
      num_hidden_layers: 1,
      num_attention_heads: 3,
      num_key_value_heads: 1,
      hidden_size: 30,
      intermediate_size: 8,
      max_position_embeddings: 40,
      vocab_size: 8,
      rope_theta: theta,
    });
    const { cos, sin } = ropeTables(config, config.maxPositions);
    const cb = up(ctx, cos), sb = up(ctx, sin);
    // 3 query heads + 1 key head of size 10 rotated; the value head (columns 40..49) is not.
    const d = { rows: 6, T: 3, P: 7, heads: 4, hd: 10, stride: 50 };
    const x = rand(d.rows * d.stride, 3);
    const xb = up(ctx, x);
    await run(ctx, (enc) => rp.record(enc, { cos: cb, sin: sb, x: xb, ...d }));
    close(await ctx.read(xb), rope(x, d, theta), 1e-6, "rope_forward");
    await run(ctx, (enc) => rp.record(enc, { cos: cb, sin: sb, x: xb, ...d, inverse: true }));
    close(await ctx.read(xb), x, 1e-6, "rope inverse(rope(x))");
    const dy = rand(d.rows * d.stride);
    const db = up(ctx, dy);
    await run(ctx, (enc) => rp.record(enc, { cos: cb, sin: sb, x: db, ...d, inverse: true }));
    close(await ctx.read(db), rope(dy, d, theta, true), 1e-6, "rope backward");
  });
});

Deno.test("swiglu forward and backward match the reference, without NaN at large inputs", async () => {
  await withCtx(async (ctx) => {
    const sF = await SwigluForward.create(ctx);
    const sB = await SwigluBackward.create(ctx);
    for (const [rows, F] of [[1, 1], [5, 67], [3, 130]]) {
      const gu = rand(rows * 2 * F, 4), dy = rand(rows * F);
      if (F > 1) gu[0] = -90; // exp overflows in f32; alone it would make y ~ 1e-38
      const gb = up(ctx, gu), db = up(ctx, dy);
      const yb = ctx.buffer(rows * F * 4, "y"), dgb = ctx.buffer(rows * 2 * F * 4, "dgu");
      await run(ctx, (enc) => {
        sF.record(enc, { gu: gb, y: yb, rows, F });
        sB.record(enc, { gu: gb, dy: db, dgu: dgb, rows, F });
      });
      const y = await ctx.read(yb), dgu = await ctx.read(dgb);
      assert(y.every(Number.isFinite) && dgu.every(Number.isFinite), "swiglu produced NaN");
      close(y, swigluForward(gu, rows, F), 1e-6, `swiglu_forward ${rows}x${F}`);
      close(dgu, swigluBackward(gu, dy, rows, F), 1e-6, `swiglu_backward ${rows}x${F}`);
    }
  });
});

Deno.test("gelu forward and backward match the reference, without NaN at large inputs", async () => {
  await withCtx(async (ctx) => {
    const gF = await GeluForward.create(ctx);
    const gB = await GeluBackward.create(ctx);
    const n = 1001;
    const x = rand(n, 4);
    x[0] = 60;
    x[1] = -60;
    const dy = rand(n);
    const xb = up(ctx, x), yb = ctx.buffer(n * 4, "y"), db = up(ctx, dy);
    await run(ctx, (enc) => {
      gF.record(enc, { x: xb, y: yb, n });
      gB.record(enc, { x: xb, dxy: db, n });
    });
    const y = await ctx.read(yb), d = await ctx.read(db);
    assert(y.every(Number.isFinite) && d.every(Number.isFinite), "gelu produced NaN or Inf");
    close(y, geluForward(x), 1e-6, "gelu_forward");
    close(d, geluBackward(x, dy), 1e-6, "gelu_backward");
  });
});

Deno.test("embedding_forward gathers across vocabulary chunks like the reference", async () => {
  await withCtx(async (ctx) => {
    const emb = await EmbeddingForward.create(ctx);
    const V = 150, C = 37, T = 5, B = 3, P = 4, NP = 16;
    const wte = rand(V * C), wpe = rand(NP * C);
    const ids = Uint32Array.from({ length: B * T }, (_, i) => (i * 53 + 7) % V);
    const wb = up(ctx, wte), pb = up(ctx, wpe), ib = up(ctx, ids);
    const xb = ctx.buffer(B * T * C * 4, "x");
    await run(ctx, (enc) => {
      for (const [vStart, vCount] of [[0, 64], [64, 64], [128, 22]]) {
        emb.record(enc, {
          ids: ib,
          wteChunk: { buffer: wb, offset: vStart * C * 4, size: vCount * C * 4 },
          wpe: pb,
          x: xb,
          rows: B * T,
          T,
          C,
          vStart,
          vCount,
          posOffset: P,
        });
      }
    });
    close(await ctx.read(xb), embeddingForward(ids, wte, wpe, T, C, P), 1e-7, "embedding_forward");
  });
});

for (const kernels of KERNEL_SET_NAMES) {
  Deno.test(`attention forward and backward (${kernels} kernels) match the reference with a prefix, padding and GQA`, async () => {
    await withCtx(async (ctx) => {
      const aF = await AttentionForward.create(ctx);
      const aB = await AttentionBackward.create(ctx);
      // [P, Hkv, T]: multi-head (Hkv = H, GPT-2) and grouped-query (3 KV heads for 6 query heads);
      // T = 70 spans two 64-row workgroups and several 16-row stages of the tiled kernels;
      // P = 20 puts prefix keys in two stages and spreads the tiled key pass's first workgroup
      // over prefix and token keys.
      const shapes = [[3, 6, 5], [0, 6, 5], [3, 3, 5], [4, 1, 5], [5, 2, 70], [20, 3, 70]];
      for (const [P, Hkv, T] of shapes) {
        const d: AttentionDims = { B: 2, T, H: 6, Hkv, hd: 7, P, L: 2, layer: 1 };
        const Cq = d.H * d.hd, D = Hkv * d.hd, RS = Cq + 2 * D, S = 2 * d.L * D;
        const qkv = rand(d.B * d.T * RS), kv = rand(Math.max(1, P * S)), dy = rand(d.B * d.T * Cq);
        // Row 0 all real; row 1 right-padded by 2.
        const mask = Uint32Array.from({ length: 2 * T }, (_, i) => (i < 2 * T - 2 ? 1 : 0));
        const dkv0 = rand(Math.max(1, P * S));
        const qb = up(ctx, qkv), kb = up(ctx, kv), mb = up(ctx, mask), db = up(ctx, dy);
        const yb = ctx.buffer(d.B * d.T * Cq * 4, "y"), lb = ctx.buffer(d.B * d.H * d.T * 4, "lse");
        const dqb = ctx.buffer(d.B * d.T * RS * 4, "dqkv"), dkb = up(ctx, dkv0);
        const dsb = ctx.buffer(d.B * d.H * d.T * 4, "dsum");
        const shape = { B: d.B, T: d.T, H: d.H, kvHeads: Hkv, hd: d.hd, P, layer: d.layer };
        await run(ctx, (enc) => {
          aF.record(enc, shape, d.L, { qkv: qb, kv: kb, mask: mb, y: yb, lse: lb });
          aB.record(enc, shape, d.L, {
            qkv: qb,
            kv: kb,
            mask: mb,
            y: yb,
            lse: lb,
            dy: db,
            dqkv: dqb,
            dkv: dkb,
            dsum: dsb,
          });
        });
        const ref = attentionForward(d, qkv, kv, mask);
        close(await ctx.read(yb), ref.y, 1e-5, `attention_forward P=${P} Hkv=${Hkv}`);
        close(await ctx.read(lb), ref.lse, 1e-5, `attention lse P=${P} Hkv=${Hkv}`);
        const g = attentionBackward(d, qkv, kv, mask, dy);
        close(await ctx.read(dqb), g.dqkv, 1e-5, `attention_backward dqkv P=${P} Hkv=${Hkv}`);
        if (P > 0) {
          const want = Float64Array.from(g.dkv, (v, i) => v + dkv0[i]); // accumulated into
          close(await ctx.read(dkb), want, 1e-5, `attention_backward dkv P=${P} Hkv=${Hkv}`);
        }
      }
    }, kernels);
  });
}

Deno.test("cross-entropy over vocabulary chunks matches the reference loss and gradient", async () => {
  await withCtx(async (ctx) => {
    const ceF = await CrossEntropyForward.create(ctx);
    const ceB = await CrossEntropyBackward.create(ctx);
    const rows = 5, V = 150;
    const chunks = [[0, 64], [64, 64], [128, 22]];
    const logits = rand(rows * V, 6);
    const targets = Int32Array.from([3, -1, 149, 64, 127]);
    const tb = up(ctx, targets), sb = ctx.buffer(rows * 12, "stats");
    // Each chunk as its own dense [rows, vCount] block, as the LM head writes it.
    const blocks = chunks.map(([v0, n]) => {
      const blk = new Float32Array(rows * n);
      for (let r = 0; r < rows; r++) blk.set(logits.subarray(r * V + v0, r * V + v0 + n), r * n);
      return up(ctx, blk);
    });
    await run(ctx, (enc) => {
      chunks.forEach(([vStart, Vc], i) =>
        ceF.record(enc, { logits: blocks[i], targets: tb, stats: sb, rows, Vc, vStart })
      );
      chunks.forEach(([vStart, Vc], i) =>
        ceB.record(enc, { targets: tb, stats: sb, logits: blocks[i], rows, Vc, vStart })
      );
    });
    const ref = crossEntropy(logits, targets, rows, V);
    const stats = await ctx.read(sb);
    const loss = Array.from(
      { length: rows },
      (_, r) => targets[r] < 0 ? 0 : stats[3 * r] + Math.log(stats[3 * r + 1]) - stats[3 * r + 2],
    );
    close(loss, ref.loss, 1e-6, "cross_entropy loss");
    const grad = new Float32Array(rows * V);
    for (let i = 0; i < chunks.length; i++) {
      const [v0, n] = chunks[i];
      const blk = await ctx.read(blocks[i]);
      for (let r = 0; r < rows; r++) grad.set(blk.subarray(r * n, (r + 1) * n), r * V + v0);
    }
    close(grad, ref.dlogits, 1e-6, "cross_entropy_backward");
  });
});

for (const reparam of ["none", "mlp", "residual"] as const) {
  for (const gate of [false, true]) {
    Deno.test(`prefix forward and backward match the reference for ${reparam}${gate ? "-gate" : ""}`, async () => {
      await withCtx(async (ctx) => {
        const pF = await PrefixForward.create(ctx);
        const pB = await PrefixBackward.create(ctx);
        const P = 3, S = 70, m = reparam === "none" ? 0 : 5, K = reparam === "mlp" ? 6 : S;
        const d: PrefixDims = { P, S, m, K, reparam, gate };
        const x: Record<string, Float32Array> = { E: rand(P * K) };
        if (reparam !== "none") {
          x.W1 = rand(K * m, 0.5);
          x.b1 = rand(m);
          x.W2 = rand(m * S);
          x.b2 = rand(S);
        }
        if (gate) x.a = rand(P, 2);
        // Flat layout with 64-float aligned offsets and gaps, as the trainer uses.
        const names = ["E", "W1", "b1", "W2", "b2", "a"] as const;
        const offsets = { E: 0, W1: 0, b1: 0, W2: 0, b2: 0, a: 0 };
        let n = 0;
        for (const k of names) {
          if (!x[k]) continue;
          offsets[k] = n;
          n += Math.ceil((x[k].length + 3) / 64) * 64;
        }
        const flat = new Float32Array(n);
        for (const k of names) if (x[k]) flat.set(x[k], offsets[k]);
        const layout: PrefixLayout = {
          P,
          S,
          m,
          K,
          reparam: reparam === "none" ? 0 : reparam === "mlp" ? 1 : 2,
          gate,
          offsets,
        };
        const dkv = rand(P * S);
        const pb = up(ctx, flat), gb = ctx.buffer(n * 4, "grads");
        const hb = ctx.buffer(Math.max(1, P * m) * 4, "hidden"), rb = ctx.buffer(P * S * 4, "R");
        const kvb = ctx.buffer(P * S * 4, "kv"), db = up(ctx, dkv);
        const drb = ctx.buffer(P * S * 4, "dR"), dzb = ctx.buffer(Math.max(1, P * m) * 4, "dZ");
        await run(ctx, (enc) => {
          pF.record(enc, layout, { params: pb, hidden: hb, r: rb, kv: kvb });
          pB.record(enc, layout, 0.25, {
            params: pb,
            hidden: hb,
            r: rb,
            dkv: db,
            dr: drb,
            dz: dzb,
            grads: gb,
          });
        });
        const ref = prefixForward(d, x);
        close(await ctx.read(kvb), ref.kv, 1e-6, "prefix_forward kv");
        const grads = await ctx.read(gb);
        const want = prefixBackward(d, x, dkv, 0.25);
        for (const k of names) {
          if (!x[k]) continue;
          close(grads.subarray(offsets[k], offsets[k] + x[k].length), want[k], 1e-5, `grad ${k}`);
        }
      });
    });
  }
}

Deno.test("adamw_update matches the reference with clipping, and skips a non-finite norm", async () => {
  await withCtx(async (ctx) => {
    const adam = await AdamWUpdate.create(ctx);
    const n = 1237;
    const p0 = rand(n),
      h = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxNorm: 0.5 };
    const pb = up(ctx, p0), mb = ctx.buffer(n * 4, "m"), vb = ctx.buffer(n * 4, "v");
    const partial = ctx.buffer(NORM_PARTIALS * 4, "partial"), norm = ctx.buffer(4, "norm");
    const p = Float64Array.from(p0), m = new Float64Array(n), v = new Float64Array(n);
    for (let step = 1; step <= 3; step++) {
      const g = rand(n, 0.1);
      const gb = up(ctx, g);
      await run(ctx, (enc) =>
        adam.record(enc, n, { ...h, maxGradNorm: h.maxNorm, step }, {
          grads: gb,
          params: pb,
          m: mb,
          v: vb,
          partial,
          norm,
        }));
      const want = adamwUpdate(p, g, m, v, { ...h, step });
      assert(want > h.maxNorm, "clipping is active");
      const got = (await ctx.read(norm))[0];
      assert(Math.abs(got - want) / want < 1e-5, `norm ${got} vs ${want}`);
      close(await ctx.read(pb), p, 1e-6, `params after step ${step}`);
      // v is quadratic in the f32 clip coefficient: twice its rounding error.
      close(await ctx.read(vb), v, 1e-4, `v after step ${step}`);
    }
    const bad = rand(n);
    bad[7] = NaN;
    const before = await ctx.read(pb);
    const gb = up(ctx, bad);
    await run(ctx, (enc) =>
      adam.record(enc, n, { ...h, maxGradNorm: h.maxNorm, step: 4 }, {
        grads: gb,
        params: pb,
        m: mb,
        v: vb,
        partial,
        norm,
      }));
    assert(!Number.isFinite((await ctx.read(norm))[0]), "norm is reported non-finite");
    assertEquals(Array.from(await ctx.read(pb)), Array.from(before), "params unchanged on skip");
  });
});
