/**
 * The part of every training graph that touches the vocabulary: the token embedding
 * gather and the LM head with its masked cross-entropy, both chunked over the vocabulary so
 * that tables larger than the storage-binding limit work. GPT-2 and Llama share it.
 *
 * Legend: M = B*T token rows, C = d_model, V vocabulary, Vc columns per chunk.
 *
 * @module
 */
import type { ModelConfig } from "../../model/mod.ts";
import {
  CrossEntropyBackward,
  CrossEntropyForward,
  EmbeddingForward,
  type GpuContext,
  MatmulXW,
  MatmulXWt,
} from "../../gpu/mod.ts";
import type { PackedBatch } from "../token_batch.ts";
import { PrefixEdgeError } from "../../errors/mod.ts";

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

/** The frozen tables the head reads. */
export interface HeadTables {
  /** [V, C] token embedding. */
  embed: GPUBuffer;
  /** [V, C] LM head (the embedding itself when tied). */
  head: GPUBuffer;
  /** [maxPositions, C] learned positions (GPT-2), or none (RoPE models). */
  positions?: GPUBuffer;
}

/** A located chunk of logits: `[M, vCount]` f32 row-major, and its first vocabulary id. */
export interface LogitsChunk {
  buffer: GPUBuffer;
  offset: number;
  size: number;
  vStart: number;
  vCount: number;
}

/** The vocabulary side of a training graph: inputs, embedding, logits, loss. */
export class LmHead {
  /** Vocabulary chunk width Vc (a multiple of 64 unless V itself is smaller). */
  readonly chunkCols: number;
  /** Number of vocabulary chunks. */
  readonly numChunks: number;
  /** Whether every chunk's logits stay in memory between forward and backward. */
  readonly keepLogits: boolean;
  /** [maxRows, 3] softmax statistics (max, sum of exp, target logit) per row. */
  readonly stats: GPUBuffer;
  /** [maxRows] u32 token ids. */
  readonly ids: GPUBuffer;
  /** [maxRows] u32 1 = real token, 0 = padding. */
  readonly mask: GPUBuffer;
  /** [maxRows] i32 next-token targets (-1 = not counted). */
  readonly targets: GPUBuffer;

  #ctx: GpuContext;
  #config: ModelConfig;
  #maxRows: number;
  #tables: HeadTables;
  #embed: EmbeddingForward;
  #xwt: MatmulXWt;
  #xw: MatmulXW;
  #ceF: CrossEntropyForward;
  #ceB: CrossEntropyBackward;
  #logits: GPUBuffer; // keepLogits ? numChunks x [M, Vc] : [M, Vc]

  private constructor(
    ctx: GpuContext,
    config: ModelConfig,
    maxRows: number,
    chunking: GraphChunking,
    tables: HeadTables,
    k: [EmbeddingForward, MatmulXWt, MatmulXW, CrossEntropyForward, CrossEntropyBackward],
  ) {
    this.#ctx = ctx;
    this.#config = config;
    this.#maxRows = maxRows;
    this.#tables = tables;
    [this.#embed, this.#xwt, this.#xw, this.#ceF, this.#ceB] = k;
    const M = maxRows, C = config.hiddenSize, V = config.vocabSize;
    const f = (n: number, label: string) => ctx.buffer(4 * n, label);
    this.stats = f(M * 3, "stats");
    this.ids = f(M, "ids");
    this.mask = f(M, "mask");
    this.targets = f(M, "targets");
    const round64 = (n: number) => Math.max(64, Math.floor(n / 64) * 64);
    const byTable = round64(ctx.maxBinding / (4 * C));
    const byLogits = round64(Math.min(CHUNK_BYTES, ctx.maxBinding) / (4 * M));
    this.chunkCols = Math.min(V, byTable, byLogits, chunking.vocabChunk ?? V);
    this.numChunks = Math.ceil(V / this.chunkCols);
    this.keepLogits = chunking.keepLogits ??
      (this.numChunks === 1 || this.numChunks * M * this.chunkCols * 4 <= KEEP_LOGITS_BYTES);
    this.#logits = f((this.keepLogits ? this.numChunks : 1) * M * this.chunkCols, "logits");
  }

  /**
   * Compile the kernels and allocate inputs and logits for `maxRows` token rows.
   *
   * @throws {PrefixEdgeError} `INVALID_INPUT` for a vocabChunk that is not a positive
   *   multiple of 64
   */
  static async create(
    ctx: GpuContext,
    config: ModelConfig,
    maxRows: number,
    chunking: GraphChunking,
    tables: HeadTables,
  ): Promise<LmHead> {
    const vc = chunking.vocabChunk;
    if (vc !== undefined && (!Number.isInteger(vc) || vc < 64 || vc % 64 !== 0)) {
      throw new PrefixEdgeError(
        "INVALID_INPUT",
        `Cannot build the training graph: vocabChunk must be a positive multiple of 64 (binding offsets stay 256-byte aligned), got ${vc}`,
      );
    }
    const k = await Promise.all([
      EmbeddingForward.create(ctx),
      MatmulXWt.create(ctx),
      MatmulXW.create(ctx),
      CrossEntropyForward.create(ctx),
      CrossEntropyBackward.create(ctx),
    ]);
    return new LmHead(ctx, config, maxRows, chunking, tables, k);
  }

  /** Upload a packed batch's ids, mask and targets (queued before the next submit). */
  setInputs(batch: PackedBatch): void {
    this.#ctx.write(this.ids, batch.ids);
    this.#ctx.write(this.mask, batch.mask);
    this.#ctx.write(this.targets, batch.targets);
  }

  #rows(table: GPUBuffer, c: number) {
    const C = this.#config.hiddenSize;
    const vStart = c * this.chunkCols;
    const vCount = Math.min(this.chunkCols, this.#config.vocabSize - vStart);
    return {
      vStart,
      vCount,
      range: { buffer: table, offset: vStart * C * 4, size: vCount * C * 4 },
    };
  }

  #logitsChunk(c: number, M: number): LogitsChunk {
    const { vStart, vCount } = this.#rows(this.#tables.head, c);
    const offset = this.keepLogits ? c * this.#maxRows * this.chunkCols * 4 : 0;
    return { buffer: this.#logits, offset, size: M * vCount * 4, vStart, vCount };
  }

  /** x [M, C] = embedding rows of the ids (+ positions P.. when the model has them). */
  recordEmbed(enc: GPUCommandEncoder, x: GPUBuffer, B: number, T: number, P: number): void {
    for (let c = 0; c < this.numChunks; c++) {
      const ch = this.#rows(this.#tables.embed, c);
      this.#embed.record(enc, {
        ids: this.ids,
        wteChunk: ch.range,
        wpe: this.#tables.positions,
        x,
        rows: B * T,
        T,
        C: this.#config.hiddenSize,
        vStart: ch.vStart,
        vCount: ch.vCount,
        posOffset: P,
      });
    }
  }

  /** Every chunk's logits from the final hidden states h [M, C], merging softmax statistics. */
  recordLoss(enc: GPUCommandEncoder, h: GPUBuffer, M: number): void {
    for (let c = 0; c < this.numChunks; c++) {
      const logits = this.recordChunkLogits(enc, h, c, M);
      this.#ceF.record(enc, {
        logits,
        targets: this.targets,
        stats: this.stats,
        rows: M,
        Vc: logits.vCount,
        vStart: logits.vStart,
      });
    }
  }

  /** logits chunk c [M, vCount] = h · head_chunkᵀ. */
  recordChunkLogits(enc: GPUCommandEncoder, h: GPUBuffer, c: number, M: number): LogitsChunk {
    const C = this.#config.hiddenSize;
    const ch = this.#rows(this.#tables.head, c);
    const logits = this.#logitsChunk(c, M);
    this.#xwt.record(enc, { x: h, w: ch.range, y: logits, M, K: C, N: ch.vCount }, "lm_head");
    return logits;
  }

  /**
   * dh [M, C] = sum over chunks of dlogits · head_chunk, after {@link recordLoss} (logits are
   * recomputed when they were not kept). Overwrites dh.
   */
  recordBackward(enc: GPUCommandEncoder, h: GPUBuffer, dh: GPUBuffer, M: number): void {
    const C = this.#config.hiddenSize;
    enc.clearBuffer(dh, 0, M * C * 4);
    for (let c = 0; c < this.numChunks; c++) {
      const ch = this.#rows(this.#tables.head, c);
      const logits = this.keepLogits
        ? this.#logitsChunk(c, M)
        : this.recordChunkLogits(enc, h, c, M);
      this.#ceB.record(enc, {
        targets: this.targets,
        stats: this.stats,
        logits,
        rows: M,
        Vc: ch.vCount,
        vStart: ch.vStart,
      });
      this.#xw.record(enc, {
        x: logits,
        w: ch.range,
        y: dh,
        M,
        K: ch.vCount,
        N: C,
        accumulate: true,
      }, "lm_head.backward");
    }
  }
}
