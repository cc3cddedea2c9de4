/**
 * The GPT-2 training graph on WebGPU: frozen weights, saved activations, and the
 * forward and backward passes recorded as kernel dispatches. Only activation
 * gradients flow back (the base is frozen); the prefix's keys/values collect
 * theirs in `dkv`. A Llama graph would sit beside this file with the same shape.
 *
 * Legend: B batch rows, T tokens per row, M = B*T rows, C = d_model, H heads,
 * hd = C/H, L layers, V vocabulary, Vc columns per vocabulary chunk, P prefix
 * tokens, S = 2*L*C.
 *
 * @module
 */
import { PrefixEdgeError } from "../../errors/mod.ts";
import type { LoadedModel, ModelConfig, SafetensorsFile } from "../../model/mod.ts";
import {
  AttentionBackward,
  AttentionForward,
  type BufferRange,
  CrossEntropyBackward,
  CrossEntropyForward,
  EmbeddingForward,
  GeluBackward,
  GeluForward,
  type GpuContext,
  LayerNormBackward,
  LayerNormForward,
  MatmulBackward,
  MatmulForward,
} from "../../gpu/mod.ts";
import type { PackedBatch } from "./token_batch.ts";

/** Logit chunks are kept for the backward pass when all of them fit in this many bytes. */
const KEEP_LOGITS_BYTES = 128 * 1024 * 1024;
/** One chunk of logits holds at most this many bytes. */
const CHUNK_BYTES = 64 * 1024 * 1024;

/** How the LM head splits the vocabulary (defaults fit the device's binding limit). */
export interface GraphChunking {
  /** Columns per vocabulary chunk, a multiple of 64 (default: as large as the limits allow). */
  vocabChunk?: number;
  /** Keep every chunk's logits for the backward pass instead of recomputing them. */
  keepLogits?: boolean;
}

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
  embed: EmbeddingForward;
  lnF: LayerNormForward;
  lnB: LayerNormBackward;
  mmF: MatmulForward;
  mmB: MatmulBackward;
  geluF: GeluForward;
  geluB: GeluBackward;
  attF: AttentionForward;
  attB: AttentionBackward;
  ceF: CrossEntropyForward;
  ceB: CrossEntropyBackward;
}

async function tensor(st: SafetensorsFile, name: string, shape: number[]): Promise<Float32Array> {
  const full = st.tensors.has(name) ? name : name.replace(/^transformer\./, "");
  const info = st.tensors.get(full);
  if (!info) {
    throw new PrefixEdgeError(
      "SAFETENSORS_CORRUPT",
      `Cannot load GPT-2 weights from ${st.source}: tensor "${name}" is missing`,
    );
  }
  if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
    throw new PrefixEdgeError(
      "SAFETENSORS_CORRUPT",
      `Cannot load GPT-2 weights from ${st.source}: "${full}" has shape [${info.shape}], expected [${shape}]`,
    );
  }
  return await st.getFloat32(full);
}

/**
 * Buffers, kernels and the recorded passes of GPT-2 with a prefix.
 * Create with {@link Gpt2Graph.create}; {@link recordForward} and
 * {@link recordBackward} record into the caller's encoder.
 */
export class Gpt2Graph {
  readonly config: ModelConfig;
  readonly maxRows: number;
  readonly maxBatch: number;
  /** Vocabulary chunk width Vc (a multiple of 64 unless V itself is smaller). */
  readonly chunkCols: number;
  /** Number of vocabulary chunks. */
  readonly numChunks: number;
  /** Whether every chunk's logits stay in memory between forward and backward. */
  readonly keepLogits: boolean;
  /** [maxRows, 3] softmax statistics (max, sum of exp, target logit) per row. */
  readonly stats: GPUBuffer;
  readonly ids: GPUBuffer;
  readonly mask: GPUBuffer;
  readonly targets: GPUBuffer;

  #ctx: GpuContext;
  #k: Kernels;
  #wte: GPUBuffer; // [V, C]
  #wpe: GPUBuffer; // [maxPositions, C]
  #lnfW: GPUBuffer;
  #lnfB: GPUBuffer;
  #blocks: BlockWeights[];
  #acts: BlockActs[];
  #xf: GPUBuffer; // [M, C] final residual stream
  #stf: GPUBuffer; // [M, 2]
  #lny: GPUBuffer; // [M, C] scratch: a LayerNorm's output
  #big: GPUBuffer; // [M, 4C] scratch: gelu output (forward), its gradient (backward)
  #g: GPUBuffer; // [M, C] gradient of the residual stream
  #dsmall: GPUBuffer; // [M, C] scratch gradient
  #dqkv: GPUBuffer; // [M, 3C]
  #dsum: GPUBuffer; // [B, H, T]
  #logits: GPUBuffer; // keepLogits ? numChunks x [M, Vc] : [M, Vc]

  private constructor(
    ctx: GpuContext,
    k: Kernels,
    config: ModelConfig,
    maxBatch: number,
    maxLen: number,
    chunking: GraphChunking,
    weights: {
      wte: GPUBuffer;
      wpe: GPUBuffer;
      lnfW: GPUBuffer;
      lnfB: GPUBuffer;
      blocks: BlockWeights[];
    },
  ) {
    this.#ctx = ctx;
    this.#k = k;
    this.config = config;
    this.maxBatch = maxBatch;
    const M = (this.maxRows = maxBatch * maxLen);
    const { hiddenSize: C, numHeads: H, vocabSize: V } = config;
    this.#wte = weights.wte;
    this.#wpe = weights.wpe;
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
    this.stats = f(M * 3, "stats");
    this.ids = f(M, "ids");
    this.mask = f(M, "mask");
    this.targets = f(M, "targets");

    const round64 = (n: number) => Math.max(64, Math.floor(n / 64) * 64);
    const byWte = round64(ctx.maxBinding / (4 * C));
    const byLogits = round64(Math.min(CHUNK_BYTES, ctx.maxBinding) / (4 * M));
    this.chunkCols = Math.min(V, byWte, byLogits, chunking.vocabChunk ?? V);
    this.numChunks = Math.ceil(V / this.chunkCols);
    this.keepLogits = chunking.keepLogits ??
      (this.numChunks === 1 || this.numChunks * M * this.chunkCols * 4 <= KEEP_LOGITS_BYTES);
    this.#logits = f((this.keepLogits ? this.numChunks : 1) * M * this.chunkCols, "logits");
  }

  /**
   * Upload a GPT-2 model's frozen weights and allocate activations for
   * `maxBatch x maxLen` token rows.
   *
   * @throws {PrefixEdgeError} `UNSUPPORTED_MODEL` for a non-GPT-2 model or activation,
   *   `SAFETENSORS_CORRUPT` for missing or misshapen weights
   */
  static async create(
    ctx: GpuContext,
    model: LoadedModel,
    maxBatch: number,
    maxLen: number,
    chunking: GraphChunking = {},
  ): Promise<Gpt2Graph> {
    const config = model.config;
    const vc = chunking.vocabChunk;
    if (vc !== undefined && (!Number.isInteger(vc) || vc < 64 || vc % 64 !== 0)) {
      throw new PrefixEdgeError(
        "INVALID_INPUT",
        `Cannot build the GPT-2 graph: vocabChunk must be a positive multiple of 64 (binding offsets stay 256-byte aligned), got ${vc}`,
      );
    }
    if (config.family !== "gpt2") {
      throw new PrefixEdgeError(
        "UNSUPPORTED_MODEL",
        `Cannot train a prefix on ${config.modelType}: the WebGPU trainer has a GPT-2 graph only`,
      );
    }
    if (config.activation !== "gelu_new" && config.activation !== "gelu_pytorch_tanh") {
      throw new PrefixEdgeError(
        "UNSUPPORTED_MODEL",
        `Cannot train on this GPT-2: activation "${config.activation}" is not gelu_new`,
      );
    }
    const { hiddenSize: C, vocabSize: V, maxPositions: NP, intermediateSize: F } = config;
    if (F !== 4 * C) {
      throw new PrefixEdgeError(
        "UNSUPPORTED_MODEL",
        `Cannot train on this GPT-2: n_inner ${F} is not 4 * n_embd`,
      );
    }
    const [embed, lnF, lnB, mmF, mmB, geluF, geluB, attF, attB, ceF, ceB] = await Promise.all([
      EmbeddingForward.create(ctx),
      LayerNormForward.create(ctx),
      LayerNormBackward.create(ctx),
      MatmulForward.create(ctx),
      MatmulBackward.create(ctx),
      GeluForward.create(ctx),
      GeluBackward.create(ctx),
      AttentionForward.create(ctx),
      AttentionBackward.create(ctx),
      CrossEntropyForward.create(ctx),
      CrossEntropyBackward.create(ctx),
    ]);
    const st = await model.openWeights();
    try {
      const up = async (name: string, shape: number[]) => {
        const data = await tensor(st, name, shape);
        const buf = ctx.buffer(data.byteLength, name);
        ctx.write(buf, data);
        return buf;
      };
      const wte = await up("transformer.wte.weight", [V, C]);
      const wpe = await up("transformer.wpe.weight", [NP, C]);
      const lnfW = await up("transformer.ln_f.weight", [C]);
      const lnfB = await up("transformer.ln_f.bias", [C]);
      const blocks: BlockWeights[] = [];
      for (let l = 0; l < config.numLayers; l++) {
        const p = `transformer.h.${l}.`;
        blocks.push({
          ln1w: await up(`${p}ln_1.weight`, [C]),
          ln1b: await up(`${p}ln_1.bias`, [C]),
          attnW: await up(`${p}attn.c_attn.weight`, [C, 3 * C]),
          attnB: await up(`${p}attn.c_attn.bias`, [3 * C]),
          projW: await up(`${p}attn.c_proj.weight`, [C, C]),
          projB: await up(`${p}attn.c_proj.bias`, [C]),
          ln2w: await up(`${p}ln_2.weight`, [C]),
          ln2b: await up(`${p}ln_2.bias`, [C]),
          fcW: await up(`${p}mlp.c_fc.weight`, [C, 4 * C]),
          fcB: await up(`${p}mlp.c_fc.bias`, [4 * C]),
          mprojW: await up(`${p}mlp.c_proj.weight`, [4 * C, C]),
          mprojB: await up(`${p}mlp.c_proj.bias`, [C]),
        });
      }
      const kernels = { embed, lnF, lnB, mmF, mmB, geluF, geluB, attF, attB, ceF, ceB };
      return new Gpt2Graph(ctx, kernels, config, maxBatch, maxLen, chunking, {
        wte,
        wpe,
        lnfW,
        lnfB,
        blocks,
      });
    } finally {
      st.close();
    }
  }

  /** Upload a packed batch's ids, mask and targets (queued before the next submit). */
  setInputs(batch: PackedBatch): void {
    this.#ctx.write(this.ids, batch.ids);
    this.#ctx.write(this.mask, batch.mask);
    this.#ctx.write(this.targets, batch.targets);
  }

  #chunk(c: number): { vStart: number; vCount: number; wte: BufferRange } {
    const C = this.config.hiddenSize;
    const vStart = c * this.chunkCols;
    const vCount = Math.min(this.chunkCols, this.config.vocabSize - vStart);
    return {
      vStart,
      vCount,
      wte: { buffer: this.#wte, offset: vStart * C * 4, size: vCount * C * 4 },
    };
  }

  #logitsChunk(
    c: number,
    M: number,
    vCount: number,
  ): { buffer: GPUBuffer; offset: number; size: number } {
    const offset = this.keepLogits ? c * this.maxRows * this.chunkCols * 4 : 0;
    return { buffer: this.#logits, offset, size: M * vCount * 4 };
  }

  /**
   * Record the forward pass for a batch of B rows of T tokens after a prefix of P tokens
   * held in `kv` [P, S]. Leaves the per-row softmax statistics in {@link stats}.
   */
  recordForward(enc: GPUCommandEncoder, B: number, T: number, P: number, kv: GPUBuffer): void {
    const k = this.#k, cfg = this.config;
    const M = B * T, C = cfg.hiddenSize, H = cfg.numHeads, hd = cfg.headDim, L = cfg.numLayers;
    const eps = cfg.normEps;
    const bytes = M * C * 4;
    for (let c = 0; c < this.numChunks; c++) {
      const ch = this.#chunk(c);
      k.embed.record(enc, {
        ids: this.ids,
        wteChunk: ch.wte,
        wpe: this.#wpe,
        x: this.#acts[0]?.x ?? this.#xf,
        rows: M,
        T,
        C,
        vStart: ch.vStart,
        vCount: ch.vCount,
        posOffset: P,
      });
    }
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
      k.mmF.record(enc, {
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
        mask: this.mask,
        y: a.att,
        lse: a.lse,
      });
      enc.copyBufferToBuffer(a.x, 0, a.h, 0, bytes);
      k.mmF.record(enc, {
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
      k.mmF.record(enc, {
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
      k.mmF.record(enc, {
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
    for (let c = 0; c < this.numChunks; c++) this.#recordLogits(enc, c, M, true);
  }

  /**
   * Record one vocabulary chunk's logits again (without softmax statistics), after
   * {@link recordForward} in the same or an earlier submission, which leaves the ln_f
   * output in place.
   *
   * @returns where the chunk lies (`[M, vCount]` f32 row-major) and its first vocabulary id
   */
  recordChunkLogits(
    enc: GPUCommandEncoder,
    c: number,
    M: number,
  ): { buffer: GPUBuffer; offset: number; size: number; vStart: number; vCount: number } {
    this.#recordLogits(enc, c, M, false);
    const ch = this.#chunk(c);
    return { ...this.#logitsChunk(c, M, ch.vCount), vStart: ch.vStart, vCount: ch.vCount };
  }

  /** logits chunk = ln_f output · wte_chunkᵀ, then (optionally) merge its softmax statistics. */
  #recordLogits(enc: GPUCommandEncoder, c: number, M: number, withStats: boolean) {
    const C = this.config.hiddenSize;
    const ch = this.#chunk(c);
    const logits = this.#logitsChunk(c, M, ch.vCount);
    this.#k.mmB.record(
      enc,
      { dy: this.#lny, w: ch.wte, dx: logits, M, K: ch.vCount, N: C },
      "lm_head",
    );
    if (withStats) {
      this.#k.ceF.record(enc, {
        logits,
        targets: this.targets,
        stats: this.stats,
        rows: M,
        Vc: ch.vCount,
        vStart: ch.vStart,
      });
    }
  }

  /**
   * Record the backward pass of the summed token losses, after {@link recordForward} in the
   * same or an earlier submission. Adds the prefix's gradient into `dkv` [P, S].
   */
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
    const bytes = M * C * 4;
    // LM head: dlnf [M, C] = sum over chunks of dlogits · wte_chunk.
    enc.clearBuffer(this.#dsmall, 0, bytes);
    for (let c = 0; c < this.numChunks; c++) {
      const ch = this.#chunk(c);
      if (!this.keepLogits) this.#recordLogits(enc, c, M, false);
      const logits = this.#logitsChunk(c, M, ch.vCount);
      k.ceB.record(enc, {
        targets: this.targets,
        stats: this.stats,
        logits,
        rows: M,
        Vc: ch.vCount,
        vStart: ch.vStart,
      });
      k.mmF.record(enc, {
        x: logits,
        w: ch.wte,
        y: this.#dsmall,
        M,
        K: ch.vCount,
        N: C,
        accumulate: true,
      }, "lm_head.backward");
    }
    enc.clearBuffer(this.#g, 0, bytes);
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
      k.mmB.record(
        enc,
        { dy: this.#g, w: w.mprojW, dx: this.#big, M, K: 4 * C, N: C },
        "mlp.c_proj.backward",
      );
      k.geluB.record(enc, { x: a.fc, dxy: this.#big, n: M * 4 * C });
      k.mmB.record(
        enc,
        { dy: this.#big, w: w.fcW, dx: this.#dsmall, M, K: C, N: 4 * C },
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
      k.mmB.record(
        enc,
        { dy: this.#g, w: w.projW, dx: this.#dsmall, M, K: C, N: C },
        "attn.c_proj.backward",
      );
      k.attB.record(enc, { B, T, H, hd, P, layer: l }, L, {
        qkv: a.qkv,
        kv,
        mask: this.mask,
        y: a.att,
        lse: a.lse,
        dy: this.#dsmall,
        dqkv: this.#dqkv,
        dkv,
        dsum: this.#dsum,
      });
      // Below layer 0 nothing is trained: the residual gradient is not needed there.
      if (l === 0) break;
      k.mmB.record(
        enc,
        { dy: this.#dqkv, w: w.attnW, dx: this.#dsmall, M, K: C, N: 3 * C },
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
