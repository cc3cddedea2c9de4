/**
 * The GPT-2 training graph on WebGPU: frozen weights, saved activations, and the
 * forward and backward passes recorded as kernel dispatches. Only activation
 * gradients flow back (the base is frozen); the prefix's keys/values collect
 * theirs in `dkv`. Each backward step sits in the same order as its forward.
 *
 * Legend: B batch rows, T tokens per row, M = B*T rows, C = d_model, H heads,
 * hd = C/H, L layers, V vocabulary, P prefix tokens, S = 2*L*C.
 * HF GPT-2 stores its Conv1D weights as [in, out], so the forward is x·W and the
 * input gradient dy·Wᵀ.
 *
 * @module
 */
import { PrefixEdgeError } from "../../errors/mod.ts";
import {
  checkGpt2Config,
  gpt2LayerWeights,
  gpt2ModelWeights,
  type LoadedModel,
  type ModelConfig,
  type WeightSpec,
} from "../../model/mod.ts";
import {
  AttentionBackward,
  AttentionForward,
  GeluBackward,
  GeluForward,
  type GpuContext,
  LayerNormBackward,
  LayerNormForward,
  MatmulXW,
  MatmulXWt,
} from "../../gpu/mod.ts";
import { type GraphChunking, LmHead } from "./lm_head.ts";
import type { TrainingGraph } from "./training_graph.ts";
import { uploadWeights } from "./_weights.ts";

/** One block's frozen weights (HF GPT-2 names; Conv1D weights are [in, out]). */
interface BlockWeights {
  ln1w: GPUBuffer; // [C]
  ln1b: GPUBuffer; // [C]
  attnW: GPUBuffer; // [C, 3C]
  attnB: GPUBuffer; // [3C]
  projW: GPUBuffer; // [C, C]
  projB: GPUBuffer; // [C]
  ln2w: GPUBuffer; // [C]
  ln2b: GPUBuffer; // [C]
  fcW: GPUBuffer; // [C, 4C]
  fcB: GPUBuffer; // [4C]
  mprojW: GPUBuffer; // [4C, C]
  mprojB: GPUBuffer; // [C]
}

/** One block's saved activations (the inputs the backward pass needs). */
interface BlockActs {
  x: GPUBuffer; // [M, C] block input (residual stream)
  st1: GPUBuffer; // [M, 2] ln_1 mean, rstd
  qkv: GPUBuffer; // [M, 3C]
  att: GPUBuffer; // [M, C] attention output, heads merged
  lse: GPUBuffer; // [B, H, T]
  h: GPUBuffer; // [M, C] x + attention branch
  st2: GPUBuffer; // [M, 2] ln_2 mean, rstd
  fc: GPUBuffer; // [M, 4C] c_fc output, before gelu
}

interface Kernels {
  lnF: LayerNormForward;
  lnB: LayerNormBackward;
  xw: MatmulXW;
  xwt: MatmulXWt;
  geluF: GeluForward;
  geluB: GeluBackward;
  attF: AttentionForward;
  attB: AttentionBackward;
}

/**
 * Refuse a GPT-2 config whose maths this graph does not implement: the family's refusals, and
 * the kernels' own limits (the tanh GELU only; an MLP 4 times the model width).
 *
 * @throws {PrefixEdgeError} `UNSUPPORTED_MODEL` naming the field
 */
export function checkGpt2Trainable(config: ModelConfig): void {
  checkGpt2Config(config, `Cannot train on this ${config.modelType} model`);
  if (config.activation !== "gelu_new" && config.activation !== "gelu_pytorch_tanh") {
    throw new PrefixEdgeError(
      "UNSUPPORTED_MODEL",
      `Cannot train on this GPT-2 on WebGPU: activation_function "${config.activation}" is not gelu_new`,
    );
  }
  if (config.intermediateSize !== 4 * config.hiddenSize) {
    throw new PrefixEdgeError(
      "UNSUPPORTED_MODEL",
      `Cannot train on this GPT-2 on WebGPU: n_inner ${config.intermediateSize} is not 4 * n_embd`,
    );
  }
}

/**
 * Buffers, kernels and the recorded passes of GPT-2 with a prefix.
 * Create with {@link Gpt2Graph.create}.
 */
export class Gpt2Graph implements TrainingGraph {
  readonly config: ModelConfig;
  readonly maxRows: number;
  readonly head: LmHead;

  #k: Kernels;
  #lnfW: GPUBuffer;
  #lnfB: GPUBuffer;
  #blocks: BlockWeights[];
  #acts: BlockActs[];
  #xf: GPUBuffer; // [M, C] final residual stream
  #stf: GPUBuffer; // [M, 2]
  #lny: GPUBuffer; // [M, C] scratch: a LayerNorm's output (ln_f's stays for the LM head)
  #big: GPUBuffer; // [M, 4C] scratch: gelu output (forward), its gradient (backward)
  #g: GPUBuffer; // [M, C] gradient of the residual stream
  #dsmall: GPUBuffer; // [M, C] scratch gradient
  #dqkv: GPUBuffer; // [M, 3C]
  #dsum: GPUBuffer; // [B, H, T]

  private constructor(
    ctx: GpuContext,
    k: Kernels,
    head: LmHead,
    config: ModelConfig,
    maxRows: number,
    weights: { lnfW: GPUBuffer; lnfB: GPUBuffer; blocks: BlockWeights[] },
  ) {
    this.#k = k;
    this.head = head;
    this.config = config;
    const M = (this.maxRows = maxRows);
    const { hiddenSize: C, numHeads: H } = config;
    this.#lnfW = weights.lnfW;
    this.#lnfB = weights.lnfB;
    this.#blocks = weights.blocks;
    const f = (n: number, label: string) => ctx.buffer(4 * n, label);
    this.#acts = weights.blocks.map((_, l) => ({
      x: f(M * C, `h.${l}.x`),
      st1: f(M * 2, `h.${l}.st1`),
      qkv: f(M * 3 * C, `h.${l}.qkv`),
      att: f(M * C, `h.${l}.att`),
      lse: f(M * H, `h.${l}.lse`),
      h: f(M * C, `h.${l}.h`),
      st2: f(M * 2, `h.${l}.st2`),
      fc: f(M * 4 * C, `h.${l}.fc`),
    }));
    this.#xf = f(M * C, "xf");
    this.#stf = f(M * 2, "stf");
    this.#lny = f(M * C, "lny");
    this.#big = f(M * 4 * C, "big");
    this.#g = f(M * C, "g");
    this.#dsmall = f(M * C, "dsmall");
    this.#dqkv = f(M * 3 * C, "dqkv");
    this.#dsum = f(M * H, "dsum");
  }

  /**
   * Upload a GPT-2 model's frozen weights and allocate activations for `maxRows` token rows.
   *
   * @throws {PrefixEdgeError} `UNSUPPORTED_MODEL` for maths this graph does not implement,
   *   `SAFETENSORS_CORRUPT` for missing or misshapen weights
   */
  static async create(
    ctx: GpuContext,
    model: LoadedModel,
    maxRows: number,
    chunking: GraphChunking = {},
  ): Promise<Gpt2Graph> {
    const config = model.config;
    checkGpt2Trainable(config);
    const [lnF, lnB, xw, xwt, geluF, geluB, attF, attB] = await Promise.all([
      LayerNormForward.create(ctx),
      LayerNormBackward.create(ctx),
      MatmulXW.create(ctx),
      MatmulXWt.create(ctx),
      GeluForward.create(ctx),
      GeluBackward.create(ctx),
      AttentionForward.create(ctx),
      AttentionBackward.create(ctx),
    ]);
    const st = await model.openWeights();
    try {
      const up = (spec: WeightSpec) => uploadWeights(ctx, st, spec);
      const top = gpt2ModelWeights(config);
      const wte = await up(top.tokenEmbedding);
      const wpe = await up(top.positionEmbedding);
      const lnfW = await up(top.finalNorm.weight);
      const lnfB = await up(top.finalNorm.bias);
      const blocks: BlockWeights[] = [];
      for (let l = 0; l < config.numLayers; l++) {
        const w = gpt2LayerWeights(config, l); // Conv1D weights [in, out]: matmul_xw as stored
        blocks.push({
          ln1w: await up(w.ln1.weight),
          ln1b: await up(w.ln1.bias),
          attnW: await up(w.qkv),
          attnB: await up(w.qkvBias),
          projW: await up(w.attnOut),
          projB: await up(w.attnOutBias),
          ln2w: await up(w.ln2.weight),
          ln2b: await up(w.ln2.bias),
          fcW: await up(w.fc),
          fcB: await up(w.fcBias),
          mprojW: await up(w.mlpOut),
          mprojB: await up(w.mlpOutBias),
        });
      }
      const head = await LmHead.create(ctx, config, maxRows, chunking, {
        embed: wte,
        head: wte,
        positions: wpe,
      });
      const kernels = { lnF, lnB, xw, xwt, geluF, geluB, attF, attB };
      return new Gpt2Graph(ctx, kernels, head, config, maxRows, { lnfW, lnfB, blocks });
    } finally {
      st.close();
    }
  }

  recordForward(enc: GPUCommandEncoder, B: number, T: number, P: number, kv: GPUBuffer): void {
    const k = this.#k, cfg = this.config;
    const M = B * T, C = cfg.hiddenSize, H = cfg.numHeads, hd = cfg.headDim, L = cfg.numLayers;
    const eps = cfg.normEps;
    const bytes = M * C * 4;
    this.head.recordEmbed(enc, this.#acts[0]?.x ?? this.#xf, B, T, P);
    for (let l = 0; l < L; l++) {
      const w = this.#blocks[l], a = this.#acts[l];
      const next = l + 1 < L ? this.#acts[l + 1].x : this.#xf;
      k.lnF.record(enc, {
        x: a.x,
        weight: w.ln1w,
        bias: w.ln1b,
        y: this.#lny,
        stats: a.st1,
        rows: M,
        C,
        eps,
      }, "ln_1");
      k.xw.record(enc, {
        x: this.#lny,
        w: w.attnW,
        bias: w.attnB,
        y: a.qkv,
        M,
        K: C,
        N: 3 * C,
      }, "c_attn");
      k.attF.record(enc, { B, T, H, hd, P, layer: l }, L, {
        qkv: a.qkv,
        kv,
        mask: this.head.mask,
        y: a.att,
        lse: a.lse,
      });
      enc.copyBufferToBuffer(a.x, 0, a.h, 0, bytes);
      k.xw.record(enc, {
        x: a.att,
        w: w.projW,
        bias: w.projB,
        y: a.h,
        M,
        K: C,
        N: C,
        accumulate: true,
      }, "attn.c_proj");
      k.lnF.record(enc, {
        x: a.h,
        weight: w.ln2w,
        bias: w.ln2b,
        y: this.#lny,
        stats: a.st2,
        rows: M,
        C,
        eps,
      }, "ln_2");
      k.xw.record(enc, {
        x: this.#lny,
        w: w.fcW,
        bias: w.fcB,
        y: a.fc,
        M,
        K: C,
        N: 4 * C,
      }, "c_fc");
      k.geluF.record(enc, { x: a.fc, y: this.#big, n: M * 4 * C });
      enc.copyBufferToBuffer(a.h, 0, next, 0, bytes);
      k.xw.record(enc, {
        x: this.#big,
        w: w.mprojW,
        bias: w.mprojB,
        y: next,
        M,
        K: 4 * C,
        N: C,
        accumulate: true,
      }, "mlp.c_proj");
    }
    k.lnF.record(enc, {
      x: this.#xf,
      weight: this.#lnfW,
      bias: this.#lnfB,
      y: this.#lny,
      stats: this.#stf,
      rows: M,
      C,
      eps,
    }, "ln_f");
    this.head.recordLoss(enc, this.#lny, M);
  }

  recordChunkLogits(enc: GPUCommandEncoder, c: number, M: number) {
    return this.head.recordChunkLogits(enc, this.#lny, c, M);
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
    const M = B * T, C = cfg.hiddenSize, H = cfg.numHeads, hd = cfg.headDim, L = cfg.numLayers;
    this.head.recordBackward(enc, this.#lny, this.#dsmall, M);
    enc.clearBuffer(this.#g, 0, M * C * 4);
    k.lnB.record(enc, {
      dy: this.#dsmall,
      x: this.#xf,
      stats: this.#stf,
      weight: this.#lnfW,
      dx: this.#g,
      rows: M,
      C,
    }, "ln_f.backward");
    for (let l = L - 1; l >= 0; l--) {
      const w = this.#blocks[l], a = this.#acts[l];
      // MLP branch: g -> d(gelu out) -> d(c_fc out) -> d(ln_2 out) -> g += ln_2 backward.
      k.xwt.record(
        enc,
        { x: this.#g, w: w.mprojW, y: this.#big, M, K: C, N: 4 * C },
        "mlp.c_proj.backward",
      );
      k.geluB.record(enc, { x: a.fc, dxy: this.#big, n: M * 4 * C });
      k.xwt.record(
        enc,
        { x: this.#big, w: w.fcW, y: this.#dsmall, M, K: 4 * C, N: C },
        "c_fc.backward",
      );
      k.lnB.record(enc, {
        dy: this.#dsmall,
        x: a.h,
        stats: a.st2,
        weight: w.ln2w,
        dx: this.#g,
        rows: M,
        C,
      }, "ln_2.backward");
      // Attention branch.
      k.xwt.record(
        enc,
        { x: this.#g, w: w.projW, y: this.#dsmall, M, K: C, N: C },
        "attn.c_proj.backward",
      );
      k.attB.record(enc, { B, T, H, hd, P, layer: l }, L, {
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
      k.xwt.record(
        enc,
        { x: this.#dqkv, w: w.attnW, y: this.#dsmall, M, K: 3 * C, N: C },
        "c_attn.backward",
      );
      k.lnB.record(enc, {
        dy: this.#dsmall,
        x: a.x,
        stats: a.st1,
        weight: w.ln1w,
        dx: this.#g,
        rows: M,
        C,
      }, "ln_1.backward");
    }
  }
}
