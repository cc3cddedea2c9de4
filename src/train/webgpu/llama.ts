/**
 * The Llama-family training graph on WebGPU: RMSNorm, rotate_half RoPE (real tokens at
 * positions P..; prefix keys are cache keys and are never rotated; Llama 3's scaled
 * frequencies come from the shared table), grouped-query attention with the prefix per KV
 * head, the SwiGLU MLP, and a tied or untied LM head. Qwen2 adds biases to q, k and v;
 * Qwen3 an RMSNorm over hd on every query and key head before RoPE (never on prefix keys),
 * and a head size that need not be C / H. Frozen weights; only
 * activation gradients flow back to the prefix's keys/values in `dkv`. Each backward step
 * sits in the same order as its forward.
 *
 * Legend: B batch rows, T tokens per row, M = B*T rows, C = hidden_size, H query heads,
 * Hkv key/value heads, hd head size, Cq = H*hd, D = Hkv*hd, F = intermediate_size,
 * L layers, P prefix tokens, S = 2*L*D.
 * HF Linear weights are [out, in], so the forward is x·Wᵀ and the input gradient dy·W.
 * q, k and v are one matmul against [Wq; Wk; Wv] ([Cq + 2D, C]); gate and up are one
 * against [Wgate; Wup] ([2F, C]).
 *
 * @module
 */
import {
  checkLlamaConfig,
  llamaLayerWeights,
  llamaModelWeights,
  type LoadedModel,
  type ModelConfig,
  ropeTables,
  type WeightSpec,
} from "../../model/mod.ts";
import {
  AttentionBackward,
  AttentionForward,
  BiasAdd,
  type GpuContext,
  MatmulXW,
  MatmulXWt,
  RmsNormBackward,
  RmsNormForward,
  Rope,
  SwigluBackward,
  SwigluForward,
} from "../../gpu/mod.ts";
import { type GraphChunking, LmHead } from "./lm_head.ts";
import type { TrainingGraph } from "./training_graph.ts";
import { uploadWeights } from "./_weights.ts";

/** One layer's frozen weights. */
interface LayerWeights {
  norm1: GPUBuffer; // [C] input_layernorm
  wqkv: GPUBuffer; // [Cq + 2D, C] q_proj | k_proj | v_proj
  bqkv?: GPUBuffer; // [Cq + 2D] their biases (Qwen2)
  qNorm?: GPUBuffer; // [hd] q_norm (Qwen3)
  kNorm?: GPUBuffer; // [hd] k_norm (Qwen3)
  wo: GPUBuffer; // [C, Cq] o_proj
  norm2: GPUBuffer; // [C] post_attention_layernorm
  wgu: GPUBuffer; // [2F, C] gate_proj | up_proj
  wd: GPUBuffer; // [C, F] down_proj
}

/** One layer's saved activations (the inputs the backward pass needs). */
interface LayerActs {
  x: GPUBuffer; // [M, C] layer input (residual stream)
  r1: GPUBuffer; // [M] input_layernorm rstd
  qkv: GPUBuffer; // [M, Cq + 2D] q, k after RoPE; v
  qkRaw?: GPUBuffer; // [M, Cq + 2D] the projection before the q/k norm (Qwen3)
  rq?: GPUBuffer; // [M, H] q_norm rstd per head (Qwen3)
  rk?: GPUBuffer; // [M, Hkv] k_norm rstd per head (Qwen3)
  att: GPUBuffer; // [M, Cq] attention output, heads merged
  lse: GPUBuffer; // [B, H, T]
  h: GPUBuffer; // [M, C] x + attention branch
  r2: GPUBuffer; // [M] post_attention_layernorm rstd
  gu: GPUBuffer; // [M, 2F] gate | up, before the activation
}

interface Kernels {
  rmsF: RmsNormForward;
  rmsB: RmsNormBackward;
  xw: MatmulXW;
  xwt: MatmulXWt;
  rope: Rope;
  swF: SwigluForward;
  swB: SwigluBackward;
  attF: AttentionForward;
  attB: AttentionBackward;
  bias: BiasAdd;
}

/**
 * Buffers, kernels and the recorded passes of a Llama model with a prefix.
 * Create with {@link LlamaGraph.create}.
 */
export class LlamaGraph implements TrainingGraph {
  readonly config: ModelConfig;
  readonly maxRows: number;
  readonly head: LmHead;

  #k: Kernels;
  #normF: GPUBuffer; // [C]
  #cos: GPUBuffer; // [maxPositions, hd / 2]
  #sin: GPUBuffer; // [maxPositions, hd / 2]
  #layers: LayerWeights[];
  #acts: LayerActs[];
  #xf: GPUBuffer; // [M, C] final residual stream
  #rf: GPUBuffer; // [M] final norm rstd
  #ny: GPUBuffer; // [M, C] scratch: a norm's output (the final norm's stays for the LM head)
  #act: GPUBuffer; // [M, F] scratch: SwiGLU output (forward), its gradient (backward)
  #g: GPUBuffer; // [M, C] gradient of the residual stream
  #dsmall: GPUBuffer; // [M, max(C, Cq)] scratch gradient
  #dgu: GPUBuffer; // [M, 2F]
  #dqkv: GPUBuffer; // [M, Cq + 2D]
  #dqkvPost?: GPUBuffer; // [M, Cq + 2D] gradient after the q/k norm (Qwen3)
  #dsum: GPUBuffer; // [B, H, T]

  private constructor(
    ctx: GpuContext,
    k: Kernels,
    head: LmHead,
    config: ModelConfig,
    maxRows: number,
    weights: { normF: GPUBuffer; cos: GPUBuffer; sin: GPUBuffer; layers: LayerWeights[] },
  ) {
    this.#k = k;
    this.head = head;
    this.config = config;
    const M = (this.maxRows = maxRows);
    const { C, H, Hkv, Cq, D, F } = dims(config);
    const qk = config.qkNorm;
    this.#normF = weights.normF;
    this.#cos = weights.cos;
    this.#sin = weights.sin;
    this.#layers = weights.layers;
    const f = (n: number, label: string) => ctx.buffer(4 * n, label);
    this.#acts = weights.layers.map((_, l) => ({
      x: f(M * C, `layers.${l}.x`),
      r1: f(M, `layers.${l}.r1`),
      qkv: f(M * (Cq + 2 * D), `layers.${l}.qkv`),
      qkRaw: qk ? f(M * (Cq + 2 * D), `layers.${l}.qkRaw`) : undefined,
      rq: qk ? f(M * H, `layers.${l}.rq`) : undefined,
      rk: qk ? f(M * Hkv, `layers.${l}.rk`) : undefined,
      att: f(M * Cq, `layers.${l}.att`),
      lse: f(M * H, `layers.${l}.lse`),
      h: f(M * C, `layers.${l}.h`),
      r2: f(M, `layers.${l}.r2`),
      gu: f(M * 2 * F, `layers.${l}.gu`),
    }));
    this.#xf = f(M * C, "xf");
    this.#rf = f(M, "rf");
    this.#ny = f(M * C, "ny");
    this.#act = f(M * F, "act");
    this.#g = f(M * C, "g");
    this.#dsmall = f(M * Math.max(C, Cq), "dsmall");
    this.#dgu = f(M * 2 * F, "dgu");
    this.#dqkv = f(M * (Cq + 2 * D), "dqkv");
    if (qk) this.#dqkvPost = f(M * (Cq + 2 * D), "dqkvPost");
    this.#dsum = f(M * H, "dsum");
  }

  /**
   * Upload a Llama model's frozen weights and the RoPE tables, and allocate activations for
   * `maxRows` token rows.
   *
   * @throws {PrefixEdgeError} `UNSUPPORTED_MODEL` for maths this graph does not implement
   *   (named by config field), `SAFETENSORS_CORRUPT` for missing or misshapen weights
   */
  static async create(
    ctx: GpuContext,
    model: LoadedModel,
    maxRows: number,
    chunking: GraphChunking = {},
  ): Promise<LlamaGraph> {
    const config = model.config;
    checkLlamaConfig(config, `Cannot train on this ${config.modelType} model`);
    const [rmsF, rmsB, xw, xwt, rope, swF, swB, attF, attB, bias] = await Promise.all([
      RmsNormForward.create(ctx),
      RmsNormBackward.create(ctx),
      MatmulXW.create(ctx),
      MatmulXWt.create(ctx),
      Rope.create(ctx),
      SwigluForward.create(ctx),
      SwigluBackward.create(ctx),
      AttentionForward.create(ctx),
      AttentionBackward.create(ctx),
      BiasAdd.create(ctx),
    ]);
    const st = await model.openWeights();
    try {
      const up = (...specs: WeightSpec[]) => uploadWeights(ctx, st, ...specs);
      const top = llamaModelWeights(config);
      const embed = await up(top.embedding);
      const head = config.tieWordEmbeddings ? embed : await up(top.head);
      const normF = await up(top.finalNorm);
      const layers: LayerWeights[] = [];
      for (let l = 0; l < config.numLayers; l++) {
        // Linear weights [out, in] as stored (matmul_xwt); q|k|v and gate|up concatenated by rows.
        const w = llamaLayerWeights(config, l);
        layers.push({
          bqkv: w.qkvBias ? await up(w.qkvBias.q, w.qkvBias.k, w.qkvBias.v) : undefined,
          qNorm: w.qkNorm ? await up(w.qkNorm.q) : undefined,
          kNorm: w.qkNorm ? await up(w.qkNorm.k) : undefined,
          norm1: await up(w.inputNorm),
          wqkv: await up(w.q, w.k, w.v),
          wo: await up(w.o),
          norm2: await up(w.postNorm),
          wgu: await up(w.gate, w.up),
          wd: await up(w.down),
        });
      }
      const tables = ropeTables(config, config.maxPositions);
      const cos = ctx.buffer(tables.cos.byteLength, "rope.cos");
      const sin = ctx.buffer(tables.sin.byteLength, "rope.sin");
      ctx.write(cos, tables.cos);
      ctx.write(sin, tables.sin);
      const lmHead = await LmHead.create(ctx, config, maxRows, chunking, { embed, head });
      const kernels = { rmsF, rmsB, xw, xwt, rope, swF, swB, attF, attB, bias };
      return new LlamaGraph(ctx, kernels, lmHead, config, maxRows, { normF, cos, sin, layers });
    } finally {
      st.close();
    }
  }

  recordForward(enc: GPUCommandEncoder, B: number, T: number, P: number, kv: GPUBuffer): void {
    const k = this.#k, cfg = this.config;
    const { C, H, Hkv, hd, Cq, D, F, L } = dims(cfg);
    const M = B * T, eps = cfg.normEps, bytes = M * C * 4;
    this.head.recordEmbed(enc, this.#acts[0]?.x ?? this.#xf, B, T, P);
    for (let l = 0; l < L; l++) {
      const w = this.#layers[l], a = this.#acts[l];
      const next = l + 1 < L ? this.#acts[l + 1].x : this.#xf;
      // Attention: h = x + o_proj(attn(rope(q), rope(k), v)).
      k.rmsF.record(enc, { x: a.x, weight: w.norm1, y: this.#ny, rstd: a.r1, rows: M, C, eps });
      k.xwt.record(enc, { x: this.#ny, w: w.wqkv, y: a.qkv, M, K: C, N: Cq + 2 * D }, "qkv_proj");
      if (w.bqkv) {
        k.bias.record(enc, { bias: w.bqkv, y: a.qkv, rows: M, N: Cq + 2 * D }, "qkv_bias");
      }
      if (cfg.qkNorm) this.#recordQkNorm(enc, w, a, M);
      k.rope.record(enc, this.#ropeArgs(a.qkv, B, T, P, false));
      k.attF.record(enc, { B, T, H, kvHeads: Hkv, hd, P, layer: l }, L, {
        qkv: a.qkv,
        kv,
        mask: this.head.mask,
        y: a.att,
        lse: a.lse,
      });
      enc.copyBufferToBuffer(a.x, 0, a.h, 0, bytes);
      k.xwt.record(
        enc,
        { x: a.att, w: w.wo, y: a.h, M, K: Cq, N: C, accumulate: true },
        "o_proj",
      );
      // MLP: next = h + down_proj(silu(gate) * up).
      k.rmsF.record(enc, { x: a.h, weight: w.norm2, y: this.#ny, rstd: a.r2, rows: M, C, eps });
      k.xwt.record(enc, { x: this.#ny, w: w.wgu, y: a.gu, M, K: C, N: 2 * F }, "gate_up_proj");
      k.swF.record(enc, { gu: a.gu, y: this.#act, rows: M, F });
      enc.copyBufferToBuffer(a.h, 0, next, 0, bytes);
      k.xwt.record(
        enc,
        { x: this.#act, w: w.wd, y: next, M, K: F, N: C, accumulate: true },
        "down_proj",
      );
    }
    k.rmsF.record(enc, {
      x: this.#xf,
      weight: this.#normF,
      y: this.#ny,
      rstd: this.#rf,
      rows: M,
      C,
      eps,
    }, "norm");
    this.head.recordLoss(enc, this.#ny, M);
  }

  recordChunkLogits(enc: GPUCommandEncoder, c: number, M: number) {
    return this.head.recordChunkLogits(enc, this.#ny, c, M);
  }

  recordBackward(
    enc: GPUCommandEncoder,
    B: number,
    T: number,
    P: number,
    kv: GPUBuffer,
    dkv: GPUBuffer,
  ): void {
    const k = this.#k, cfg = this.config;
    const { C, H, Hkv, hd, Cq, D, F, L } = dims(cfg);
    const M = B * T;
    this.head.recordBackward(enc, this.#ny, this.#dsmall, M);
    enc.clearBuffer(this.#g, 0, M * C * 4);
    k.rmsB.record(enc, {
      dy: this.#dsmall,
      x: this.#xf,
      rstd: this.#rf,
      weight: this.#normF,
      dx: this.#g,
      rows: M,
      C,
    }, "norm.backward");
    for (let l = L - 1; l >= 0; l--) {
      const w = this.#layers[l], a = this.#acts[l];
      // MLP branch: g -> d(act) -> d(gate | up) -> d(norm2 out) -> g += norm2 backward.
      k.xw.record(enc, { x: this.#g, w: w.wd, y: this.#act, M, K: C, N: F }, "down_proj.backward");
      k.swB.record(enc, { gu: a.gu, dy: this.#act, dgu: this.#dgu, rows: M, F });
      k.xw.record(
        enc,
        { x: this.#dgu, w: w.wgu, y: this.#dsmall, M, K: 2 * F, N: C },
        "gate_up_proj.backward",
      );
      k.rmsB.record(enc, {
        dy: this.#dsmall,
        x: a.h,
        rstd: a.r2,
        weight: w.norm2,
        dx: this.#g,
        rows: M,
        C,
      }, "post_attention_layernorm.backward");
      // Attention branch: g -> d(att) -> d(rotated q, k; v) and the prefix's dK/dV.
      k.xw.record(enc, { x: this.#g, w: w.wo, y: this.#dsmall, M, K: C, N: Cq }, "o_proj.backward");
      k.attB.record(enc, { B, T, H, kvHeads: Hkv, hd, P, layer: l }, L, {
        qkv: a.qkv,
        kv,
        mask: this.head.mask,
        y: a.att,
        lse: a.lse,
        dy: this.#dsmall,
        dqkv: this.#dqkv,
        dkv,
        dsum: this.#dsum,
      });
      // Below layer 0 nothing is trained: the residual gradient is not needed there.
      if (l === 0) break;
      k.rope.record(enc, this.#ropeArgs(this.#dqkv, B, T, P, true), "rope.backward");
      if (cfg.qkNorm) this.#recordQkNormBackward(enc, w, a, M);
      // The q/k/v biases pass the gradient through unchanged (and are frozen).
      k.xw.record(
        enc,
        { x: this.#dqkv, w: w.wqkv, y: this.#dsmall, M, K: Cq + 2 * D, N: C },
        "qkv_proj.backward",
      );
      k.rmsB.record(enc, {
        dy: this.#dsmall,
        x: a.x,
        rstd: a.r1,
        weight: w.norm1,
        dx: this.#g,
        rows: M,
        C,
      }, "input_layernorm.backward");
    }
  }

  /** Qwen3: RMSNorm over hd on every q and k head of `a.qkv`, keeping the input in `qkRaw`. */
  #recordQkNorm(enc: GPUCommandEncoder, w: LayerWeights, a: LayerActs, M: number): void {
    const { H, Hkv, hd, Cq, D } = dims(this.config);
    const stride = Cq + 2 * D, eps = this.config.normEps;
    enc.copyBufferToBuffer(a.qkv, 0, a.qkRaw!, 0, M * stride * 4);
    const heads = { x: a.qkRaw!, y: a.qkv, rows: M, C: hd, eps, stride };
    this.#k.rmsF.record(enc, { ...heads, weight: w.qNorm!, rstd: a.rq!, groups: H }, "q_norm");
    this.#k.rmsF.record(
      enc,
      { ...heads, weight: w.kNorm!, rstd: a.rk!, groups: Hkv, offset: Cq },
      "k_norm",
    );
  }

  /** Qwen3: replace the q and k columns of the gradient in `dqkv` by their pre-norm gradient. */
  #recordQkNormBackward(enc: GPUCommandEncoder, w: LayerWeights, a: LayerActs, M: number): void {
    const { H, Hkv, hd, Cq, D } = dims(this.config);
    const stride = Cq + 2 * D, post = this.#dqkvPost!;
    enc.copyBufferToBuffer(this.#dqkv, 0, post, 0, M * stride * 4);
    const heads = { dy: post, x: a.qkRaw!, dx: this.#dqkv, rows: M, C: hd, stride };
    this.#k.rmsB.record(
      enc,
      { ...heads, weight: w.qNorm!, rstd: a.rq!, groups: H, accumulate: false },
      "q_norm.backward",
    );
    this.#k.rmsB.record(
      enc,
      { ...heads, weight: w.kNorm!, rstd: a.rk!, groups: Hkv, offset: Cq, accumulate: false },
      "k_norm.backward",
    );
  }

  /** RoPE over the query heads and the key heads that follow them in a qkv row. */
  #ropeArgs(x: GPUBuffer, B: number, T: number, P: number, inverse: boolean) {
    const { H, Hkv, hd, Cq, D } = dims(this.config);
    return {
      cos: this.#cos,
      sin: this.#sin,
      x,
      rows: B * T,
      T,
      P,
      heads: H + Hkv,
      hd,
      stride: Cq + 2 * D,
      inverse,
    };
  }
}

function dims(cfg: ModelConfig) {
  const H = cfg.numHeads, Hkv = cfg.numKvHeads, hd = cfg.headDim;
  return {
    C: cfg.hiddenSize,
    H,
    Hkv,
    hd,
    Cq: H * hd,
    D: Hkv * hd,
    F: cfg.intermediateSize,
    L: cfg.numLayers,
    V: cfg.vocabSize,
  };
}
