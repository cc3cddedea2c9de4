/**
 * The inference engine: one ONNX decoder session, many prefixes. It answers
 * batched logits (for checks and scoring) and streams generated tokens, one
 * batched forward per step over every live row of a batch.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import {
  type LoadedModel,
  type ModelConfig,
  type Prefix,
  type TextTokenizer,
  validatePrefix,
} from "../model/mod.ts";
import { BatchLayout, RaggedLayout } from "./batch_layout.ts";
import { graphHasOp } from "./_onnx_graph.ts";
import { chooseExecutionProvider } from "./choose_execution_provider.ts";
import { type BatchOptions, ContinuousBatch, wholeNumber } from "./continuous_batch.ts";
import { DecoderSession } from "./decoder_session.ts";
import { checkIds, defaultEosIds, type GenerateOptions } from "./generate_options.ts";
import type { GenerationStream } from "./generation_stream.ts";
import { type KvCache, prefixCache } from "./kv_cache.ts";
import { DEFAULT_DRAFT_TOKENS, DraftPayoff } from "./prompt_lookup.ts";
import { type ExecutionProvider, loadOrtBackend, type OrtSessionOptions } from "./ort_backend.ts";

/** How to build an engine. */
export interface EngineOptions {
  /** Default: `webgpu` on a hardware GPU, else `wasm`. */
  executionProvider?: ExecutionProvider;
  /**
   * WASM threads (default 1). Values above 1 use a loader shim (see
   * docs/inference.md); ORT fixes the count at the process's first WASM session.
   */
  wasmThreads?: number;
  /** Threads of the native backend (default: ORT's choice). */
  nativeThreads?: number;
  /** On WebGPU, keep the KV cache on the GPU between steps (default true). */
  keepKvOnGpu?: boolean;
  /** The ONNX graph's bytes, instead of reading `model.paths.onnx`. */
  onnx?: Uint8Array;
  /**
   * Most draft tokens one forward pass checks while a row decodes alone (prompt lookup,
   * docs/inference.md "Drafts from the prompt"; default 4, 0 = off). The row's tokens are the
   * ones plain decoding picks; text that repeats its prompt or itself takes fewer passes.
   */
  draftTokens?: number;
}

/** A batched logits request. Letters: B rows, T tokens. */
export interface LogitsRequest {
  /** `[B][T]` token ids (rows of equal length). */
  inputIds: number[][];
  /** `[B][T]` 1 = real token, 0 = padding (default all ones). */
  attentionMask?: number[][];
  /** Per row, its prefix or `null`. Real tokens of row b sit at positions `P_b..`. */
  prefixes?: (Prefix | null)[];
}

/** Logits of a batch. */
export interface LogitsResult {
  /** `[B, T, V]` f32 row-major. */
  data: Float32Array;
  /** `[B, T, V]`. */
  dims: [number, number, number];
}

/**
 * Runs a frozen decoder with per-row prefixes on ONNX Runtime.
 *
 * @example Stream a story from the embedded model
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { loadModel } from "../model/mod.ts";
 * import { InferenceEngine } from "./inference_engine.ts";
 * const model = await loadModel("models/stories260K");
 * const engine = await InferenceEngine.create(model, { executionProvider: "wasm" });
 * let story = "";
 * for await (const piece of engine.generate({ prompt: "Once upon a time", maxNewTokens: 8 })) {
 *   story += piece.text; // a page would append it to the screen as it comes
 * }
 * await engine.dispose();
 * assertEquals(story, ", there was a little girl");
 * ```
 */
export class InferenceEngine {
  /** The base model's config. */
  readonly config: ModelConfig;
  /** The provider the graph runs on. */
  readonly executionProvider: ExecutionProvider;
  /** The model's tokenizer, or `null`. */
  readonly tokenizer: TextTokenizer | null;
  /**
   * The ids that end a row that names no `eosTokenIds`: generation_config.json's `eos_token_id`
   * (Qwen: `<|im_end|>` and `<|endoftext|>`), config.json's and the tokenizer's EOS.
   */
  readonly eosTokenIds: readonly number[];
  readonly #session: DecoderSession;
  readonly #padId: number;
  readonly #draftTokens: number;
  readonly #draftPayoff = new DraftPayoff();
  #disposed = false;

  private constructor(
    model: LoadedModel,
    session: DecoderSession,
    ep: ExecutionProvider,
    draftTokens: number,
  ) {
    this.config = model.config;
    this.tokenizer = model.tokenizer;
    this.eosTokenIds = defaultEosIds(model.config, model.generationConfig, model.tokenizer);
    this.executionProvider = ep;
    this.#session = session;
    this.#draftTokens = draftTokens;
    // Pad columns are masked; any in-vocabulary id works.
    this.#padId = model.config.eosTokenIds[0] ?? model.config.bosTokenId ?? 0;
  }

  /**
   * Create an engine for a loaded model.
   *
   * @param model from `loadModel`
   * @param options execution provider and runtime options
   * @returns the engine
   * @throws {PrefixEdgeError} `FILE_NOT_FOUND` (no ONNX graph),
   *   `UNSUPPORTED_MODEL` (graph without KV cache IO), `BACKEND_UNAVAILABLE`,
   *   `GPU_UNAVAILABLE`
   */
  static async create(model: LoadedModel, options: EngineOptions = {}): Promise<InferenceEngine> {
    const draftTokens = wholeNumber(
      "create the engine",
      "draftTokens",
      options.draftTokens ?? DEFAULT_DRAFT_TOKENS,
    );
    const ep = await chooseExecutionProvider(options.executionProvider);
    const backend = await loadOrtBackend(ep, {
      wasmThreads: options.wasmThreads,
      nativeThreads: options.nativeThreads,
    });
    const { graph, extra } = options.onnx
      ? { graph: options.onnx, extra: {} }
      : await readGraph(model, ep);
    // `--optimize` graphs attend with GroupQueryAttention over per-row lengths.
    const nodes = typeof graph === "string" ? await model.readOnnx() : graph;
    const session = await DecoderSession.create(
      backend,
      graph,
      model.config,
      model.paths.onnx ?? "model.onnx",
      options.keepKvOnGpu ?? true,
      extra,
      graphHasOp(nodes, "GroupQueryAttention"),
    );
    return new InferenceEngine(model, session, ep, draftTokens);
  }

  /**
   * Logits for a batch in one forward pass. Rows may mix prefixes of different
   * lengths and rows without one; shorter prefixes are padded and masked.
   *
   * @param req ids, optional mask, optional per-row prefixes
   * @returns `[B, T, V]` logits (values at masked positions are meaningless)
   * @throws {PrefixEdgeError} `INVALID_INPUT`, `TOKEN_OUT_OF_RANGE`,
   *   `PREFIX_MISMATCH`, `CONTEXT_OVERFLOW`
   */
  async logits(req: LogitsRequest): Promise<LogitsResult> {
    this.#checkOpen();
    const { inputIds, attentionMask } = req;
    const bad = (why: string): never => {
      throw new PrefixEdgeError("INVALID_INPUT", `Cannot compute logits: ${why}`);
    };
    if (!Array.isArray(inputIds) || inputIds.length === 0) {
      bad("inputIds must be a non-empty [B][T] array");
    }
    const B = inputIds.length, T = inputIds[0].length;
    if (T === 0) bad("rows are empty");
    inputIds.forEach((row, b) => {
      if (!Array.isArray(row) || row.length !== T) {
        bad(`row ${b} has ${row?.length} ids, row 0 has ${T}`);
      }
      checkIds(row, this.config.vocabSize, `compute logits: row ${b}`);
    });
    if (attentionMask) {
      if (attentionMask.length !== B) {
        bad(`attentionMask has ${attentionMask.length} rows, inputIds ${B}`);
      }
      attentionMask.forEach((m, b) => {
        if (m.length !== T || m.some((v) => v !== 0 && v !== 1)) {
          bad(`attentionMask row ${b} must be ${T} zeros/ones`);
        }
      });
    }
    const prefixes = req.prefixes ?? inputIds.map(() => null);
    if (prefixes.length !== B) bad(`prefixes has ${prefixes.length} entries, inputIds ${B} rows`);
    prefixes.forEach((p, b) => {
      if (!p) return;
      validatePrefix(this.config, p, `row ${b}'s prefix`);
    });
    prefixes.forEach((p, b) => {
      const left = this.contextLeft(p?.prefixLen ?? 0);
      if (T > left) {
        throw new PrefixEdgeError(
          "CONTEXT_OVERFLOW",
          `Cannot compute logits: row ${b} has ${T} tokens but only ${left} positions are left after its prefix`,
        );
      }
    });
    const cache = prefixCache(this.#session.backend, this.config, prefixes);
    const prefixLens = prefixes.map((p) => p?.prefixLen ?? 0);
    if (this.#session.ragged) {
      return await this.#raggedLogits(inputIds, attentionMask, prefixLens, cache);
    }
    const { step } = BatchLayout.prefill(prefixLens, inputIds, attentionMask, this.#padId);
    const out = await this.#session.forward({ ...step, batch: B, cache });
    out.cache.dispose();
    return { data: out.logits, dims: out.dims };
  }

  /**
   * {@link InferenceEngine.logits} on a graph that attends over row lengths: each row's real
   * tokens run packed at the front, and their logits go back to their own columns (masked
   * columns get zeros).
   */
  async #raggedLogits(
    inputIds: number[][],
    attentionMask: number[][] | undefined,
    prefixLens: number[],
    cache: KvCache,
  ): Promise<LogitsResult> {
    const real = inputIds.map((row, b) => row.filter((_, j) => attentionMask?.[b][j] !== 0));
    const { step } = RaggedLayout.prefill(
      prefixLens,
      real.map((r) => (r.length ? r : [this.#padId])),
      this.#padId,
    );
    const out = await this.#session.forward({ ...step, batch: inputIds.length, cache });
    cache.dispose();
    out.cache.dispose();
    const B = inputIds.length, T = inputIds[0].length, [, Tp, V] = out.dims;
    const data = new Float32Array(B * T * V);
    inputIds.forEach((row, b) => {
      let k = 0;
      row.forEach((_, j) => {
        if (attentionMask?.[b][j] === 0) return;
        data.set(out.logits.subarray((b * Tp + k) * V, (b * Tp + k + 1) * V), (b * T + j) * V);
        k++;
      });
    });
    return { data, dims: [B, T, V] };
  }

  /**
   * Generate one row, streaming its tokens.
   *
   * @param opts prompt or ids, prefix, sampling and stop rules
   * @returns the token stream; `result` settles when the row ends
   * @throws {PrefixEdgeError} synchronously for invalid options (see `prepareRow`)
   */
  generate(opts: GenerateOptions): GenerationStream {
    return this.generateBatch([opts])[0];
  }

  /**
   * Generate several rows together: one batched forward per step over all
   * live rows (each with its own prefix, sampling and stop rules). Rows with
   * `numBeams > 1` run as their own group.
   *
   * @param rows one options object per row
   * @returns one stream per row, in order
   * @throws {PrefixEdgeError} synchronously if any row is invalid (naming it)
   */
  generateBatch(rows: GenerateOptions[]): GenerationStream[] {
    this.#checkOpen();
    if (!Array.isArray(rows) || rows.length === 0) {
      throw new PrefixEdgeError("INVALID_INPUT", "Cannot generate: pass at least one row");
    }
    // A batch of its own: no other caller's rows join it.
    return this.openBatch().addAll(rows);
  }

  /**
   * Open a batch that rows may join while it decodes: a row added at any
   * time joins at a coming step boundary (within `maxJoinDelaySteps`), after
   * one prefill forward for the rows waiting to join. Rows keep their own
   * prefix, positions and mask, so each row's tokens equal what it gives alone.
   *
   * Joining works on every backend: with the KV cache on the GPU (`webgpu`)
   * the caches are padded, stacked and compacted on the GPU by small helper
   * graphs. Only if those fail to load is `joinable` `false`: rows added
   * while the batch decodes then start together once its rows have all
   * finished (waves).
   *
   * @param options a step callback
   * @returns the batch (idle until the first `add`)
   * @throws {PrefixEdgeError} `INVALID_INPUT` once the engine is disposed
   */
  openBatch(options: BatchOptions = {}): ContinuousBatch {
    this.#checkOpen();
    return new ContinuousBatch({
      session: this.#session,
      config: this.config,
      tokenizer: this.tokenizer,
      eosTokenIds: this.eosTokenIds,
      padId: this.#padId,
      draftTokens: this.#draftTokens,
      draftPayoff: this.#draftPayoff,
      checkOpen: () => this.#checkOpen(),
    }, options);
  }

  /**
   * Count the tokens a prompt takes, encoded as `generate` encodes it.
   *
   * @param text the prompt
   * @returns its token count
   * @throws {PrefixEdgeError} `TOKENIZER_MISSING`
   */
  countTokens(text: string): number {
    if (!this.tokenizer) {
      throw new PrefixEdgeError(
        "TOKENIZER_MISSING",
        "Cannot count tokens: the model has no tokenizer.json",
      );
    }
    return this.tokenizer.encode(text).length;
  }

  /**
   * Positions left for real tokens (prompt + new tokens) once a prefix is in place.
   *
   * @param prefixLen P
   * @returns `maxPositions - P` (never negative)
   */
  contextLeft(prefixLen: number): number {
    return Math.max(0, this.config.maxPositions - prefixLen);
  }

  /** Release the ONNX session. Streams still running fail. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await this.#session.release();
  }

  #checkOpen(): void {
    if (this.#disposed) {
      throw new PrefixEdgeError("INVALID_INPUT", "Cannot run the engine: it has been disposed");
    }
  }
}

/**
 * The graph as ORT takes it. With external data (weights over 2 GB), the
 * native runtime reads the file by path and finds the data beside it; the
 * web runtimes take both as bytes.
 */
async function readGraph(
  model: LoadedModel,
  ep: ExecutionProvider,
): Promise<{ graph: Uint8Array | string; extra: OrtSessionOptions }> {
  const onnx = model.onnxFile, data = model.paths.onnxData;
  const local = onnx && model.files.localPath?.(onnx);
  if (data && ep === "native" && local) return { graph: local, extra: {} };
  const graph = await model.readOnnx();
  if (!data) return { graph, extra: {} };
  const dataFile = `${onnx}_data`;
  const name = dataFile.slice(dataFile.lastIndexOf("/") + 1);
  return {
    graph,
    extra: { externalData: [{ path: name, data: (await model.files.read(dataFile))! }] },
  };
}
