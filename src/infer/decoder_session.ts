/**
 * One ORT session over a decoder graph, with its IO discovered by name and a
 * single `forward` that takes flat ids/mask/positions and a {@link KvCache}.
 * Runs are serialized: ORT-web sessions do not take concurrent `run` calls, and
 * concurrent generation streams interleave here step by step.
 *
 * @module
 */
import type { ModelConfig } from "../model/mod.ts";
import { PrefixEdgeError } from "../errors/mod.ts";
import { concatPaddedModel, gatherRowsModel, selectRowsModel } from "./_onnx_graph.ts";
import type { ColumnRange } from "./batch_layout.ts";
import { type GpuCacheOps, KvCache, type RowGather } from "./kv_cache.ts";
import type { OrtBackend, OrtSession, OrtSessionOptions, OrtTensor } from "./ort_backend.ts";
import { discoverSessionIO, type SessionIO } from "./session_io.ts";

/** Inputs of one forward pass. Letters: B rows, T new tokens, past cached columns. */
export interface ForwardInputs {
  /** `[B, T]` token ids, row-major. */
  inputIds: ArrayLike<number>;
  /** `[B, past + T]` 1 = attend, 0 = padding. */
  attentionMask: ArrayLike<number>;
  /** `[B, T]` position of each new token. */
  positionIds: ArrayLike<number>;
  /** B. */
  batch: number;
  /** T. */
  seqLen: number;
  /** The cache the new tokens attend to (`pastLen` = past). */
  cache: KvCache;
}

/** Outputs of one forward pass. */
export interface ForwardOutputs {
  /** `[B, T, V]` f32 logits on the CPU. */
  logits: Float32Array;
  /** `[B, T, V]`. */
  dims: [number, number, number];
  /** The new cache, `[B, H, past + T, hd]` per slot. */
  cache: KvCache;
}

/** A decoder graph ready to run. */
export class DecoderSession {
  readonly io: SessionIO;
  readonly backend: OrtBackend;
  /** Whether `present` tensors stay on the GPU (WebGPU with `keepKvOnGpu`). */
  readonly kvOnGpu: boolean;
  /**
   * Reorders cache rows on the GPU (beam search, dropping finished rows);
   * set when `kvOnGpu` and the helper graphs loaded, so that the cache never
   * travels through the CPU between steps. The same object as `gpuCache`.
   */
  readonly rowGather: RowGather | undefined;
  /**
   * Row gather and padded concat of cache tensors on the GPU (helper graphs
   * on the same EP); set when `kvOnGpu` and they loaded. Rows can join a
   * running batch on the GPU only with it.
   */
  readonly gpuCache: GpuCacheOps | undefined;
  /**
   * Whether the graph attends over per-row lengths (ORT's `GroupQueryAttention`, from
   * `--optimize`): its callers lay rows out with `RaggedLayout`, not `BatchLayout`.
   */
  readonly ragged: boolean;
  readonly #session: OrtSession;
  readonly #helpers: HelperSessions | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #released = false;

  private constructor(
    session: OrtSession,
    backend: OrtBackend,
    io: SessionIO,
    kvOnGpu: boolean,
    helpers: HelperSessions | undefined,
    ragged: boolean,
  ) {
    this.#session = session;
    this.ragged = ragged;
    this.backend = backend;
    this.io = io;
    this.kvOnGpu = kvOnGpu;
    this.#helpers = helpers;
    this.gpuCache = helpers
      ? {
        gather: (t, rows, columns) => this.#gather(helpers, t, rows, columns),
        concat: (a, b, side) => this.#concat(helpers, a, b, side),
      }
      : undefined;
    this.rowGather = this.gpuCache;
  }

  /**
   * Create the session and discover its IO.
   *
   * @param backend the runtime
   * @param bytes the ONNX graph (or its path, native only)
   * @param config the model's config
   * @param source graph path, for errors
   * @param keepKvOnGpu on WebGPU, leave `present` tensors on the GPU
   * @param extra more session options (the graph's external data)
   * @param ragged whether the graph attends over per-row lengths (see {@link DecoderSession.ragged})
   * @returns the session
   */
  static async create(
    backend: OrtBackend,
    bytes: Uint8Array | string,
    config: ModelConfig,
    source: string,
    keepKvOnGpu: boolean,
    extra: OrtSessionOptions = {},
    ragged = false,
  ): Promise<DecoderSession> {
    // On WebGPU every output stays on the GPU; the logits are downloaded each
    // step (they are needed on the CPU), the presents are fed straight back.
    const gpu = keepKvOnGpu && backend.ep === "webgpu";
    const session = await backend.createSession(bytes, {
      graphOptimizationLevel: "all",
      logSeverityLevel: 3, // errors only: ORT's EP-assignment notes are not actionable here
      ...extra,
      ...(gpu ? { preferredOutputLocation: "gpu-buffer" as const } : {}),
    });
    const meta = (session as unknown as { inputMetadata?: [] }).inputMetadata;
    let io: SessionIO;
    try {
      io = discoverSessionIO(session.inputNames, session.outputNames, meta, config, source);
    } catch (e) {
      await session.release();
      throw e;
    }
    return new DecoderSession(
      session,
      backend,
      io,
      gpu,
      gpu ? await helperSessions(backend) : undefined,
      ragged,
    );
  }

  /**
   * Run one forward pass.
   *
   * @param x the inputs
   * @returns logits on the CPU and the new cache (the input cache is not disposed)
   */
  forward(x: ForwardInputs): Promise<ForwardOutputs> {
    // ORT's GroupQueryAttention takes several new tokens after a cache (a prefix) for one row
    // at a time only: such a batch runs row by row, or token by token, whichever needs fewer
    // runs (a run's fixed cost is close to a decode step's on small models).
    if (this.ragged && x.batch > 1 && x.seqLen > 1 && x.cache.pastLen > 0) {
      return x.seqLen <= x.batch ? this.#tokenByToken(x) : this.#rowByRow(x);
    }
    const run = this.#queue.then(() => this.#run(x));
    this.#queue = run.catch(() => {});
    return run;
  }

  /** A ragged forward of T new tokens per row as T one-token forwards of all rows. */
  async #tokenByToken(x: ForwardInputs): Promise<ForwardOutputs> {
    const { batch: B, seqLen: T } = x, W = x.cache.pastLen + T;
    // Each row's length before the new tokens: its mask's row sum, less T.
    const before = Array.from({ length: B }, (_, b) => {
      let n = 0;
      for (let c = 0; c < W; c++) n += x.attentionMask[b * W + c];
      return n - T;
    });
    let cache = x.cache, logits: Float32Array | undefined, V = 0;
    try {
      for (let j = 0; j < T; j++) {
        const width = x.cache.pastLen + j + 1;
        const attentionMask: number[] = [];
        for (let b = 0; b < B; b++) {
          for (let c = 0; c < width; c++) attentionMask.push(c < before[b] + j + 1 ? 1 : 0);
        }
        const column = (a: ArrayLike<number>) => Array.from({ length: B }, (_, b) => a[b * T + j]);
        const out = await this.forward({
          inputIds: column(x.inputIds),
          attentionMask,
          positionIds: column(x.positionIds),
          batch: B,
          seqLen: 1,
          cache,
        });
        if (cache !== x.cache) cache.dispose();
        cache = out.cache;
        V = out.dims[2];
        logits ??= new Float32Array(B * T * V);
        for (let b = 0; b < B; b++) {
          logits.set(out.logits.subarray(b * V, (b + 1) * V), (b * T + j) * V);
        }
      }
    } catch (e) {
      if (cache !== x.cache) cache.dispose();
      throw e;
    }
    return { logits: logits!, dims: [B, T, V], cache };
  }

  /** A ragged forward of T new tokens per row as one forward per row. */
  async #rowByRow(x: ForwardInputs): Promise<ForwardOutputs> {
    const { batch: B, seqLen: T, cache } = x, W = cache.pastLen + T;
    const row = <A extends ArrayLike<number>>(a: A, b: number, n: number) =>
      Array.prototype.slice.call(a, b * n, (b + 1) * n) as number[];
    const outs: ForwardOutputs[] = [];
    let stacked: KvCache | undefined;
    try {
      for (let b = 0; b < B; b++) {
        const own = await cache.selectRows(this.backend, [b], undefined, this.rowGather);
        try {
          outs.push(
            await this.forward({
              inputIds: row(x.inputIds, b, T),
              attentionMask: row(x.attentionMask, b, W),
              positionIds: row(x.positionIds, b, T),
              batch: 1,
              seqLen: T,
              cache: own,
            }),
          );
        } finally {
          own.dispose();
        }
        const next = outs[b].cache;
        if (!stacked) {
          stacked = next;
          continue;
        }
        try {
          const both = await stacked.concat(this.backend, next, this.gpuCache, "right");
          stacked.dispose();
          stacked = both;
        } finally {
          next.dispose();
        }
      }
    } catch (e) {
      stacked?.dispose();
      throw e;
    }
    const [, , V] = outs[0].dims;
    const logits = new Float32Array(B * T * V);
    outs.forEach((o, b) => logits.set(o.logits, b * T * V));
    return { logits, dims: [B, T, V], cache: stacked! };
  }

  async #run(x: ForwardInputs): Promise<ForwardOutputs> {
    const { batch: B, seqLen: T, cache } = x;
    const io = this.io;
    const feeds: Record<string, OrtTensor> = {
      [io.inputIds]: this.#ints(io.inputIds, x.inputIds, [B, T]),
    };
    if (io.attentionMask) {
      feeds[io.attentionMask] = this.#ints(io.attentionMask, x.attentionMask, [
        B,
        cache.pastLen + T,
      ]);
    }
    if (io.positionIds) feeds[io.positionIds] = this.#ints(io.positionIds, x.positionIds, [B, T]);
    if (io.useCacheBranch) {
      // A merged decoder ignores past_key_values unless this is true: with a
      // prefix, even the first step must take the cached branch.
      feeds[io.useCacheBranch] = this.backend.tensor(
        "bool",
        new Uint8Array([cache.pastLen > 0 ? 1 : 0]),
        [1],
      );
    }
    io.past.forEach((p, l) => {
      feeds[p.key] = cache.tensors[2 * l];
      feeds[p.value] = cache.tensors[2 * l + 1];
    });
    const out = await this.#session.run(feeds);
    const logitsT = out[io.logits];
    const logits =
      (logitsT.location === "cpu" ? logitsT.data : await logitsT.getData(true)) as Float32Array;
    const tensors: OrtTensor[] = [];
    for (const p of io.present) tensors.push(out[p.key], out[p.value]);
    const dims = logitsT.dims as [number, number, number];
    return {
      logits,
      dims: [dims[0], dims[1], dims[2]],
      cache: new KvCache(tensors, B, cache.pastLen + T),
    };
  }

  #ints(name: string, values: ArrayLike<number>, dims: number[]): OrtTensor {
    if (this.io.intTypes[name] === "int32") {
      return this.backend.tensor("int32", Int32Array.from(values), dims);
    }
    const data = new BigInt64Array(values.length);
    for (let i = 0; i < values.length; i++) data[i] = BigInt(values[i]);
    return this.backend.tensor("int64", data, dims);
  }

  /**
   * `out = t[rows]` along axis 0, keeping columns `[from, to)` of axis 2,
   * by a helper graph on the same EP, its output kept on the GPU.
   */
  #gather(
    h: HelperSessions,
    t: OrtTensor,
    rows: readonly number[],
    columns: ColumnRange = [0, t.dims[2]],
  ): Promise<OrtTensor> {
    const indices = this.#int64(rows);
    const [from, to] = columns;
    if (from === 0 && to === t.dims[2]) return this.#helper(h.gather, { data: t, indices });
    return this.#helper(h.select, {
      data: t,
      indices,
      starts: this.#int64([from]),
      ends: this.#int64([to]),
      axes: this.#int64([2]),
    });
  }

  /** `a` and `b` padded on one side of axis 2 to one width, then stacked along axis 0, on the GPU. */
  #concat(
    h: HelperSessions,
    a: OrtTensor,
    b: OrtTensor,
    side: "left" | "right",
  ): Promise<OrtTensor> {
    const W = Math.max(a.dims[2], b.dims[2]);
    // ONNX pads: begin of each axis, then end of each axis.
    const pads = (t: OrtTensor) =>
      this.#int64(
        side === "left"
          ? [0, 0, W - t.dims[2], 0, 0, 0, 0, 0]
          : [0, 0, 0, 0, 0, 0, W - t.dims[2], 0],
      );
    return this.#helper(h.concat, { a, b, pads_a: pads(a), pads_b: pads(b) });
  }

  #int64(values: readonly number[]): OrtTensor {
    return this.backend.tensor("int64", BigInt64Array.from(values, (v) => BigInt(v)), [
      values.length,
    ]);
  }

  /**
   * Run a helper graph and return its `out`. Queued with the forward passes,
   * since ORT-web runs one session at a time.
   */
  #helper(session: OrtSession, feeds: Record<string, OrtTensor>): Promise<OrtTensor> {
    const run = this.#queue.then(async () => {
      if (this.#released) {
        throw new PrefixEdgeError("INVALID_INPUT", "Cannot reshape the KV cache: session released");
      }
      return (await session.run(feeds)).out;
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Release the session (and the helper graphs' sessions, if any). */
  async release(): Promise<void> {
    await this.#queue;
    this.#released = true;
    await this.#session.release();
    const h = this.#helpers;
    if (h) await Promise.all([h.gather, h.select, h.concat].map((s) => s.release()));
  }
}

/** The helper graphs' sessions of a GPU decoder session. */
interface HelperSessions {
  /** Gather rows (beam search). */
  gather: OrtSession;
  /** Gather rows and drop leading columns (finished rows leave a batch). */
  select: OrtSession;
  /** Left-pad and stack two caches (rows join a batch). */
  concat: OrtSession;
}

/**
 * Create the helper graphs' sessions on the GPU EP, outputs kept on the GPU.
 * Created up front, so that a batch knows whether rows can join it: if one
 * fails to load, there is none (beams are then reordered on the CPU and
 * batches run in waves), rather than a failure in the middle of a batch.
 */
async function helperSessions(backend: OrtBackend): Promise<HelperSessions | undefined> {
  const opts = { logSeverityLevel: 3 as const, preferredOutputLocation: "gpu-buffer" as const };
  const ok: OrtSession[] = [];
  // One at a time: ORT-web does not create sessions concurrently.
  for (const model of [gatherRowsModel(), selectRowsModel(), concatPaddedModel()]) {
    try {
      ok.push(await backend.createSession(model, opts));
    } catch (e) {
      // Still correct without them, but slower: say why, once, instead of degrading silently.
      console.warn(
        `warning: the GPU KV-cache helper graphs did not load (${
          (e as Error)?.message ?? e
        }); beams are reordered and rows joined through the CPU, and batches run in waves`,
      );
      await Promise.all(ok.map((s) => s.release()));
      return undefined;
    }
  }
  const [gather, select, concat] = ok;
  return { gather, select, concat };
}
