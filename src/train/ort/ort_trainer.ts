/**
 * The prefix trainer on ONNX Runtime (CPU): `native` (onnxruntime-node) or `wasm`
 * (onnxruntime-web). One session holds the frozen weights and runs the forward, the masked
 * cross-entropy and the backward down to the prefix module's parameters
 * (./training_model.ts); the parameters, their accumulated gradient and the AdamW moments
 * live on the host, where clipping and AdamW run (./adamw.ts). It satisfies the training
 * contract (`Trainer`, src/train/trainer.ts), so `train`, `lossAndGrads` and `trainSteps` take either trainer.
 *
 * @module
 */
import { join } from "pathe";
import { PrefixEdgeError } from "../../errors/mod.ts";
import type { LoadedModel } from "../../model/mod.ts";
import {
  defaultWasmThreads,
  loadOrtBackend,
  type OrtBackend,
  type OrtSession,
  type OrtTensor,
} from "../../infer/mod.ts";
import { paramShapes, type PrefixModule } from "../../prefix/mod.ts";
import {
  type AdamWOptions,
  type BatchLoss,
  type OptimizerState,
  resolveAdamW,
  type TokenBatch,
  type Trainer,
} from "../trainer.ts";
import { packBatch } from "../token_batch.ts";
import { adamwStep } from "./adamw.ts";
import { attentionQueryBlocks, headRowChunks } from "./ops.ts";
import { keepLargeBlocksOnHeap } from "./heap_for_large_outputs.ts";
import { buildTrainingModel, writeTrainingModel } from "./training_model.ts";

/** Where the ONNX training graph runs. */
export type OrtTrainingBackend = "native" | "wasm";

/** Options of {@link OrtPrefixTrainer.create}. */
export interface OrtTrainerOptions {
  /** Most rows per batch. */
  maxBatch: number;
  /** Most tokens per row. */
  maxLen: number;
  /** `native` (default) or `wasm`. */
  backend?: OrtTrainingBackend;
  /**
   * Threads: native intra-op threads (default: ORT's choice, all cores), or WASM threads
   * (default `defaultWasmThreads()`: 1 in Deno, where with 2 threads the stories260K training
   * step hung in 2 of 3 runs, spinning one core; half the cores, up to 4, in a cross-origin
   * isolated page). ORT-web fixes its thread count at the first WASM session, so a later value is
   * ignored.
   */
  threads?: number;
  /**
   * ORT's CPU memory arena (default on). It keeps the activations' memory from step to step;
   * off, every step maps and unmaps it afresh, which costs more than the maths on a virtual
   * machine (bench/main_job_bench.ts measures both).
   */
  cpuMemArena?: boolean;
  /**
   * Turn on ORT's profiler (native only): every node's run is recorded, and
   * {@link OrtPrefixTrainer.endProfiling} writes them as a Chrome trace JSON whose name starts
   * with this prefix (bench/train_profile_bench.ts reads it). Off by default: it costs time.
   */
  profileFilePrefix?: string;
  /**
   * How many query blocks the graph's causal attention is cut into (default: chosen from the
   * model's width, `maxLen` and the thread count by `attentionQueryBlocks`). The loss and
   * gradients are the same for any count; only the work differs. Rows shorter than the count are
   * padded to it.
   */
  queryBlocks?: number;
  /**
   * How many row chunks the LM head's loss is cut into (default: `headRowChunks`, enough that no
   * chunk's `[rows, V]` logits exceed 32 MiB). The loss and gradients are the same for any count.
   */
  headChunks?: number;
}

/**
 * Trains a prefix module on ONNX Runtime against a frozen base model (GPT-2 or Llama).
 *
 * @example One optimizer step on the native backend
 * ```ts
 * import { ok } from "node:assert";
 * import { loadModel } from "../../model/mod.ts";
 * import { PrefixModule } from "../../prefix/mod.ts";
 * const model = await loadModel("tests/fixtures/gpt2-text");
 * const pm = PrefixModule.init(model.config, { prefixLen: 4, reparam: "residual", gate: true, midDim: 16 });
 * const batch = { inputIds: [[5, 6, 7, 8]], labels: [[-100, -100, 7, 8]] };
 * import { OrtPrefixTrainer } from "./ort_trainer.ts";
 * const trainer = await OrtPrefixTrainer.create(model, pm, { maxBatch: 4, maxLen: 64 });
 * await trainer.accumulate(batch);
 * const { gradNorm, skipped } = await trainer.step({ lr: 1e-3 });
 * ok(gradNorm > 0 && !skipped);
 * trainer.destroy();
 * ```
 */
export class OrtPrefixTrainer implements Trainer {
  /** The module being trained (its params are the trainer's parameters). */
  readonly pm: PrefixModule;
  /** Where the graph runs. */
  readonly backend: OrtTrainingBackend;
  /** Most rows per batch. */
  readonly maxBatch: number;
  /** Most tokens per row. */
  readonly maxLen: number;

  #ort: OrtBackend;
  #session: OrtSession;
  /** The graph's attention query blocks: the fewest tokens a batch row is padded to. */
  #queryBlocks: number;
  #grads: Record<string, Float32Array> = {};
  #gradOut: Record<string, Float32Array> = {};
  #m: Record<string, Float32Array> = {};
  #v: Record<string, Float32Array> = {};
  #tokens = 0;
  #step = 0;
  #destroyed = false;

  private constructor(
    pm: PrefixModule,
    opts: OrtTrainerOptions,
    ort: OrtBackend,
    session: OrtSession,
    queryBlocks: number,
  ) {
    this.pm = pm;
    this.backend = opts.backend ?? "native";
    this.maxBatch = opts.maxBatch;
    this.maxLen = opts.maxLen;
    this.#ort = ort;
    this.#session = session;
    this.#queryBlocks = queryBlocks;
    for (const [name, p] of Object.entries(pm.params)) {
      this.#grads[name] = new Float32Array(p.length);
      this.#m[name] = new Float32Array(p.length);
      this.#v[name] = new Float32Array(p.length);
    }
  }

  /**
   * Build the training graph (weights read once from model.safetensors) and its session.
   *
   * @param model a loaded model folder (GPT-2 or Llama family)
   * @param pm the prefix module to train (its params are updated in place by `step`)
   * @param opts limits, backend, threads
   * @returns the trainer
   * @throws {PrefixEdgeError} `BACKEND_UNAVAILABLE`, `UNSUPPORTED_MODEL`, `INVALID_INPUT`,
   *   `BASE_MISMATCH`, `CONTEXT_OVERFLOW`
   */
  static async create(
    model: LoadedModel,
    pm: PrefixModule,
    opts: OrtTrainerOptions,
  ): Promise<OrtPrefixTrainer> {
    const { maxBatch, maxLen } = opts;
    const backend = opts.backend ?? "native";
    const threads = opts.threads ?? (backend === "wasm" ? defaultWasmThreads() : undefined);
    const queryBlocks = opts.queryBlocks ??
      attentionQueryBlocks(model.config, pm.options.prefixLen, maxLen, threads);
    const headChunks = opts.headChunks ?? headRowChunks(model.config, maxBatch * maxLen);
    if (backend !== "native" && backend !== "wasm") {
      throw new PrefixEdgeError(
        "INVALID_INPUT",
        `Cannot create the ONNX Runtime trainer: backend must be native or wasm, got ${
          JSON.stringify(backend)
        }`,
      );
    }
    for (const [k, v] of Object.entries({ maxBatch, maxLen, queryBlocks, headChunks })) {
      if (!Number.isInteger(v) || v < 1) {
        throw new PrefixEdgeError(
          "INVALID_INPUT",
          `Cannot create the trainer: ${k} must be a positive integer, got ${v}`,
        );
      }
    }
    if (
      pm.config !== model.config &&
      JSON.stringify(pm.config.raw) !== JSON.stringify(model.config.raw)
    ) {
      throw new PrefixEdgeError(
        "BASE_MISMATCH",
        "Cannot create the trainer: the prefix module was built for another model config",
      );
    }
    if (pm.options.prefixLen + maxLen > model.config.maxPositions) {
      throw new PrefixEdgeError(
        "CONTEXT_OVERFLOW",
        `Cannot create the trainer: prefix ${pm.options.prefixLen} + maxLen ${maxLen} exceed the model's ${model.config.maxPositions} positions`,
      );
    }
    const ort = await loadOrtBackend(backend, {
      nativeThreads: backend === "native" ? opts.threads : undefined,
      wasmThreads: backend === "wasm" ? opts.threads : undefined,
    });
    const sessionOptions = {
      graphOptimizationLevel: "all" as const,
      // Prepacking keeps a second (and, for weights used by both MatMul and the backward's
      // Gemm, a third) copy of every frozen matrix: 0.5 GB more peak RSS at GPT-2 small for
      // no step-time gain we could measure.
      extra: { session: { disable_prepacking: "1" } },
      // ORT's arena keeps the activations' memory from step to step. Off, every step maps and
      // unmaps it afresh, and on a virtual machine those page faults cost more than the maths
      // (bench/RESULTS.md, "The main job"). The price is the arena's doubling chunks, kept for
      // the trainer's life.
      enableCpuMemArena: opts.cpuMemArena ?? true,
      ...(opts.profileFilePrefix
        ? { enableProfiling: true, profileFilePrefix: opts.profileFilePrefix }
        : {}),
    };
    let session: OrtSession;
    if (backend === "native") {
      keepLargeBlocksOnHeap();
      // Through a file: the graph's bytes never sit whole in this process, and ORT maps the
      // weights from the file rather than copying them out of a buffer we hold.
      const dir = await Deno.makeTempDir({ prefix: "prefix-edge-train-" });
      try {
        const path = join(dir, "training.onnx");
        await writeTrainingModel(model, pm.options, { queryBlocks, headChunks }, path);
        session = await ort.createSession(path, sessionOptions);
      } finally {
        // ORT has read or mapped the file by now; a mapping outlives the file's name.
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    } else {
      session = await ort.createSession(
        await buildTrainingModel(model, pm.options, { queryBlocks, headChunks }),
        sessionOptions,
      );
    }
    return new OrtPrefixTrainer(pm, opts, ort, session, queryBlocks);
  }

  /** Number of optimizer updates applied so far. */
  get stepCount(): number {
    return this.#step;
  }

  #alive(action: string) {
    if (this.#destroyed) {
      throw new PrefixEdgeError("INVALID_INPUT", `Cannot ${action}: the trainer was destroyed`);
    }
  }

  async #run(batch: TokenBatch, backward: boolean): Promise<BatchLoss> {
    const P = this.pm.options.prefixLen;
    const packed = packBatch(batch, this.pm.config, {
      maxBatch: this.maxBatch,
      maxLen: this.maxLen,
      prefixLen: P,
    });
    // The graph's attention cuts the rows into query blocks, none of them empty: a shorter
    // batch gets padding columns (masked, no loss, at its last position).
    const T = Math.max(packed.T, this.#queryBlocks), B = packed.B, M = B * T;
    const ids = new BigInt64Array(M), pos = new BigInt64Array(M);
    const mask = new BigInt64Array(B * (P + T)).fill(1n);
    const targets = new BigInt64Array(M), weights = new Float32Array(M);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const r = b * T + t, from = b * packed.T + t;
        const real = t < packed.T;
        ids[r] = real ? BigInt(packed.ids[from]) : 0n;
        pos[r] = BigInt(P + Math.min(t, packed.T - 1));
        mask[b * (P + T) + P + t] = real ? BigInt(packed.mask[from]) : 0n;
        if (real && packed.targets[from] >= 0) {
          targets[r] = BigInt(packed.targets[from]);
          weights[r] = 1;
        }
      }
    }
    const o = this.#ort;
    const feeds: Record<string, ReturnType<OrtBackend["tensor"]>> = {
      input_ids: o.tensor("int64", ids, [B, T]),
      attention_mask: o.tensor("int64", mask, [B, P + T]),
      position_ids: o.tensor("int64", pos, [B, T]),
      targets: o.tensor("int64", targets, [M]),
      weights: o.tensor("float32", weights, [M]),
    };
    const shapes = paramShapes(this.pm.config, this.pm.options);
    for (const [name, shape] of Object.entries(shapes)) {
      feeds[`param.${name}`] = o.tensor("float32", this.pm.params[name], shape!);
    }
    // Without the backward only `loss_sum` is fetched: ORT then runs just the nodes that
    // output needs (the forward), not the backward. With it, native ORT writes the gradient
    // into buffers we hand it: straight into the (empty) accumulator for a step's first
    // micro-batch, else into one scratch set allocated once. (onnxruntime-web leaves
    // pre-allocated outputs unwritten, so wasm reads ORT's own.)
    const direct = backward && this.backend === "native" && this.#tokens === 0;
    const fetches: Record<string, OrtTensor | null> = { loss_sum: null };
    if (backward && this.backend === "native") {
      for (const [name, shape] of Object.entries(shapes)) {
        const into = direct
          ? this.#grads[name]
          : (this.#gradOut[name] ??= new Float32Array(this.#grads[name].length));
        fetches[`grad.${name}`] = o.tensor("float32", into, shape!);
      }
    }
    const out = backward && this.backend !== "native"
      ? await this.#session.run(feeds)
      : await this.#session.run(feeds, fetches);
    const lossSum = Number((out.loss_sum.data as Float32Array)[0]);
    if (backward) {
      const from = this.backend === "native" ? this.#gradOut : undefined;
      for (const [name, acc] of Object.entries(this.#grads)) {
        if (direct) continue;
        const g = from?.[name] ?? out[`grad.${name}`].data as Float32Array;
        for (let i = 0; i < acc.length; i++) acc[i] += g[i];
      }
      this.#tokens += packed.tokens;
    }
    for (const [name, t] of Object.entries(out)) {
      // Both bindings also copy each gradient into a fresh buffer of their own (onnxruntime-node
      // even after writing into ours), read by now or never: freed at once, not when the
      // collector runs, so that the next run's copies reuse the memory (76 MB at GPT-2 small;
      // ./heap_for_large_outputs.ts).
      if (name.startsWith("grad.")) freeNow(t.data as Float32Array);
      t.dispose?.();
    }
    return { lossSum, tokens: packed.tokens };
  }

  /**
   * Forward and backward for one micro-batch: adds d(sum of token losses)/d(parameters) to
   * the accumulated gradient.
   *
   * @param batch right-padded rows; labels aligned with inputIds (HF), -100 ignored
   * @returns the summed loss and the number of counted tokens
   * @throws {PrefixEdgeError} `INVALID_INPUT`, `TOKEN_OUT_OF_RANGE`, `CONTEXT_OVERFLOW`
   */
  accumulate(batch: TokenBatch): Promise<BatchLoss> {
    this.#alive("accumulate");
    return this.#run(batch, true);
  }

  /**
   * Forward only: the loss, without running the graph's backward.
   *
   * @param batch as {@link accumulate}
   * @returns the summed loss and the number of counted tokens
   */
  evaluate(batch: TokenBatch): Promise<BatchLoss> {
    this.#alive("evaluate");
    return this.#run(batch, false);
  }

  #averaged(): Record<string, Float32Array> {
    const scale = 1 / this.#tokens;
    const out: Record<string, Float32Array> = {};
    for (const [name, g] of Object.entries(this.#grads)) out[name] = g.map((x) => x * scale);
    return out;
  }

  /**
   * The gradient of the mean loss over the tokens accumulated since the last step.
   *
   * @returns gradients keyed like the parameters
   * @throws {PrefixEdgeError} `INVALID_INPUT` when no token was accumulated
   */
  readGrads(): Promise<Record<string, Float32Array>> {
    this.#alive("read gradients");
    if (this.#tokens === 0) {
      throw new PrefixEdgeError("INVALID_INPUT", "Cannot read gradients: no token was accumulated");
    }
    return Promise.resolve(this.#averaged());
  }

  /**
   * Average the accumulated gradient over its tokens, clip its global L2 norm, apply AdamW,
   * and clear it. A non-finite norm skips the update and still clears the gradient.
   *
   * @param opt AdamW hyperparameters
   * @returns the norm before clipping, and whether the update was skipped
   * @throws {PrefixEdgeError} `INVALID_INPUT` when no token was accumulated or `lr` is bad
   */
  step(opt: AdamWOptions): Promise<{ gradNorm: number; skipped: boolean }> {
    this.#alive("step");
    const hp = resolveAdamW(opt, this.#tokens);
    // The summed gradient is averaged over tokens inside the update: no pass of its own.
    const r = adamwStep(
      this.pm.params,
      this.#grads,
      { m: this.#m, v: this.#v },
      hp,
      this.#step + 1,
      1 / this.#tokens,
    );
    if (!r.skipped) this.#step++;
    for (const g of Object.values(this.#grads)) g.fill(0);
    this.#tokens = 0;
    return Promise.resolve(r);
  }

  /**
   * The current parameters (the same arrays as `pm.params`, which `step` updates in place).
   *
   * @returns the parameters
   */
  readParams(): Promise<Record<string, Float32Array>> {
    this.#alive("read parameters");
    return Promise.resolve(this.pm.params);
  }

  /**
   * The AdamW state (for checkpoints), copied.
   *
   * @returns the step count and the moments, keyed like the parameters
   */
  readOptimizerState(): Promise<OptimizerState> {
    this.#alive("read the optimizer state");
    const copy = (r: Record<string, Float32Array>) =>
      Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v.slice()]));
    return Promise.resolve({ step: this.#step, m: copy(this.#m), v: copy(this.#v) });
  }

  /**
   * Restore an AdamW state (for resuming; written by any backend).
   *
   * @param s a state from `readOptimizerState`
   * @throws {PrefixEdgeError} `INVALID_INPUT` for a state of other shapes
   */
  loadOptimizerState(s: OptimizerState): Promise<void> {
    this.#alive("load the optimizer state");
    if (!Number.isInteger(s.step) || s.step < 0) {
      throw new PrefixEdgeError(
        "INVALID_INPUT",
        `Cannot load the optimizer state: step ${s.step} is invalid`,
      );
    }
    for (const [name, p] of Object.entries(this.pm.params)) {
      for (const [which, rec] of [["m", s.m], ["v", s.v]] as const) {
        if (rec[name]?.length !== p.length) {
          throw new PrefixEdgeError(
            "INVALID_INPUT",
            `Cannot load the optimizer state: ${which}.${name} must hold ${p.length} values, got ${
              rec[name]?.length ?? "none"
            }`,
          );
        }
      }
    }
    for (const name of Object.keys(this.pm.params)) {
      this.#m[name].set(s.m[name]);
      this.#v[name].set(s.v[name]);
    }
    this.#step = s.step;
    return Promise.resolve();
  }

  /** Release the session. The trainer cannot be used afterwards. */
  /**
   * Write ORT's profile of the runs so far (the trainer was created with `profileFilePrefix`).
   * onnxruntime-node names the file `<prefix>_<date>.json` in the working folder.
   */
  endProfiling(): void {
    this.#alive("end profiling");
    this.#session.endProfiling();
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    void this.#session.release();
  }
}

/**
 * Free an array's memory at once, by detaching its buffer, when it alone holds that buffer.
 *
 * @param a an array nothing reads any more
 */
function freeNow(a: Float32Array): void {
  const b = a.buffer;
  if (
    b instanceof ArrayBuffer && typeof b.transfer === "function" && a.byteOffset === 0 &&
    a.byteLength === b.byteLength
  ) {
    b.transfer(0);
  }
}
