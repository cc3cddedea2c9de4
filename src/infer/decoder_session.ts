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
import { gatherRowsModel } from "./_onnx_graph.ts";
import { KvCache, type RowGather } from "./kv_cache.ts";
import type { OrtBackend, OrtSession, OrtTensor } from "./ort_backend.ts";
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
   * Reorders cache rows on the GPU (beam search); set when `kvOnGpu`, so
   * that the cache never travels through the CPU between steps.
   */
  readonly rowGather: RowGather | undefined;
  readonly #session: OrtSession;
  #queue: Promise<unknown> = Promise.resolve();
  #gatherSession: Promise<OrtSession> | undefined;
  #released = false;

  private constructor(session: OrtSession, backend: OrtBackend, io: SessionIO, kvOnGpu: boolean) {
    this.#session = session;
    this.backend = backend;
    this.io = io;
    this.kvOnGpu = kvOnGpu;
    this.rowGather = kvOnGpu ? { gather: (t, rows) => this.#gather(t, rows) } : undefined;
  }

  /**
   * Create the session and discover its IO.
   *
   * @param backend the runtime
   * @param bytes the ONNX graph
   * @param config the model's config
   * @param source graph path, for errors
   * @param keepKvOnGpu on WebGPU, leave `present` tensors on the GPU
   * @returns the session
   */
  static async create(
    backend: OrtBackend,
    bytes: Uint8Array,
    config: ModelConfig,
    source: string,
    keepKvOnGpu: boolean,
  ): Promise<DecoderSession> {
    // On WebGPU every output stays on the GPU; the logits are downloaded each
    // step (they are needed on the CPU), the presents are fed straight back.
    const gpu = keepKvOnGpu && backend.ep === "webgpu";
    const session = await backend.createSession(bytes, {
      graphOptimizationLevel: "all",
      logSeverityLevel: 3, // errors only: ORT's EP-assignment notes are not actionable here
      ...(gpu ? { preferredOutputLocation: "gpu-buffer" as const } : {}),
    });
    const meta = (session as unknown as { inputMetadata?: [] }).inputMetadata;
    try {
      const io = discoverSessionIO(session.inputNames, session.outputNames, meta, config, source);
      return new DecoderSession(session, backend, io, gpu);
    } catch (e) {
      await session.release();
      throw e;
    }
  }

  /**
   * Run one forward pass.
   *
   * @param x the inputs
   * @returns logits on the CPU and the new cache (the input cache is not disposed)
   */
  forward(x: ForwardInputs): Promise<ForwardOutputs> {
    const run = this.#queue.then(() => this.#run(x));
    this.#queue = run.catch(() => {});
    return run;
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
   * `out = t[rows]` along axis 0 by a one-node Gather graph on the same EP,
   * its output kept on the GPU. Queued with the forward passes, since ORT-web
   * runs one session at a time.
   */
  #gather(t: OrtTensor, rows: readonly number[]): Promise<OrtTensor> {
    const run = this.#queue.then(async () => {
      if (this.#released) {
        throw new PrefixEdgeError("INVALID_INPUT", "Cannot reorder the KV cache: session released");
      }
      // Created on first use: only beam search on the GPU needs it.
      this.#gatherSession ??= this.backend.createSession(gatherRowsModel(), {
        logSeverityLevel: 3,
        preferredOutputLocation: "gpu-buffer",
      }).catch((e) => {
        this.#gatherSession = undefined;
        throw e;
      });
      const session = await this.#gatherSession;
      const indices = this.backend.tensor(
        "int64",
        BigInt64Array.from(rows, (r) => BigInt(r)),
        [rows.length],
      );
      const out = await session.run({ data: t, indices });
      return out.out;
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Release the session (and the row-gather session, if one was created). */
  async release(): Promise<void> {
    await this.#queue;
    this.#released = true;
    await this.#session.release();
    const gather = await this.#gatherSession?.catch(() => undefined);
    await gather?.release();
  }
}
