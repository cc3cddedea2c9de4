/**
 * The low-level WebGPU trainer of a prefix module on a frozen base model.
 * It owns the GPU state (frozen weights, activations, the flat parameter,
 * gradient and AdamW moment buffers) and exposes the steps a training loop
 * composes: accumulate (forward + backward of one micro-batch), step
 * (clip + AdamW), evaluate (forward only), and parameter / optimizer state I/O.
 *
 * The prefix's gradient is accumulated as `dkv` (d summed-loss / d folded
 * prefix, `[P, S]`) over micro-batches; at `step` it is divided by the token
 * count and pushed through the prefix module's backward pass once, which is
 * exact because that pass is linear in `dkv`.
 *
 * @module
 */
import { PrefixEdgeError } from "../../errors/mod.ts";
import type { LoadedModel } from "../../model/mod.ts";
import {
  AdamWUpdate,
  GpuContext,
  type KernelSetName,
  NORM_PARTIALS,
  PrefixBackward,
  PrefixForward,
  type PrefixLayout,
} from "../../gpu/mod.ts";
import { PARAM_NAMES, type ParamName, paramShapes, type PrefixModule } from "../../prefix/mod.ts";
import { createTrainingGraph, packBatch, type TrainingGraph } from "./mod.ts";
import {
  type AdamWOptions,
  type BatchLoss,
  type OptimizerState,
  resolveAdamW,
  type TokenBatch,
  type Trainer,
} from "../trainer.ts";

/** Allocation limits of a trainer, and optional LM-head chunking (for tests and benchmarks). */
export interface TrainerLimits {
  /** Most rows per batch. */
  maxBatch: number;
  /** Most tokens per row. */
  maxLen: number;
  /** Vocabulary columns per LM-head chunk, a multiple of 64 (default: the largest that fits). */
  vocabChunk?: number;
  /** Keep all chunks' logits between forward and backward (default: when they fit in 128 MiB). */
  keepLogits?: boolean;
  /** Force a kernel set (default: `PREFIX_EDGE_KERNELS`, else the adapter's; see docs/kernels.md). */
  kernels?: KernelSetName;
}

/**
 * Trains a {@link PrefixModule} on WebGPU against a frozen base model (GPT-2 or Llama family).
 *
 * @example One optimizer step over two micro-batches
 * ```ts
 * import { ok } from "node:assert";
 * import { loadModel } from "../../model/mod.ts";
 * import { PrefixModule } from "../../prefix/mod.ts";
 * const model = await loadModel("tests/fixtures/gpt2-text");
 * const pm = PrefixModule.init(model.config, { prefixLen: 4, reparam: "residual", gate: true, midDim: 16 });
 * const batch = { inputIds: [[5, 6, 7, 8]], labels: [[-100, -100, 7, 8]] };
 * import { PrefixTrainer } from "./prefix_trainer.ts";
 * // Any WebGPU adapter works, a software one too (slowly).
 * const trainer = await PrefixTrainer.create(model, pm, { maxBatch: 8, maxLen: 64 });
 * const before = pm.params.E.slice();
 * await trainer.accumulate(batch); // micro-batch A
 * await trainer.accumulate(batch); // micro-batch B
 * const { gradNorm } = await trainer.step({ lr: 1e-3 });
 * await trainer.readParams(); // pm.params now holds the new values
 * ok(gradNorm > 0 && pm.params.E.some((v, i) => v !== before[i]));
 * trainer.destroy();
 * ```
 */
export class PrefixTrainer implements Trainer {
  /** The module being trained (its params are refreshed by {@link readParams}). */
  readonly pm: PrefixModule;
  /** Most rows per batch. */
  readonly maxBatch: number;
  /** Most tokens per row. */
  readonly maxLen: number;

  /** The LM head's vocabulary chunking: columns per chunk, count, and whether logits are kept. */
  get vocabChunks(): { chunkCols: number; numChunks: number; keepLogits: boolean } {
    const h = this.#graph.head;
    return { chunkCols: h.chunkCols, numChunks: h.numChunks, keepLogits: h.keepLogits };
  }

  #ctx: GpuContext;
  #graph: TrainingGraph;
  #pf: PrefixForward;
  #pb: PrefixBackward;
  #adam: AdamWUpdate;
  #layout: PrefixLayout;
  #n: number; // flat parameter count (with alignment padding)
  #shapes: Partial<Record<ParamName, number[]>>;
  #params: GPUBuffer; // [n]
  #grads: GPUBuffer; // [n]
  #m: GPUBuffer; // [n]
  #v: GPUBuffer; // [n]
  #partial: GPUBuffer; // [NORM_PARTIALS]
  #norm: GPUBuffer; // [1]
  #hidden: GPUBuffer; // [P, m]
  #r: GPUBuffer; // [P, S]
  #kv: GPUBuffer; // [P, S]
  #dkv: GPUBuffer; // [P, S]
  #dr: GPUBuffer; // [P, S]
  #dz: GPUBuffer; // [P, m]
  #kvStale = true;
  #tokens = 0;
  #step = 0;
  #destroyed = false;

  private constructor(
    pm: PrefixModule,
    maxBatch: number,
    maxLen: number,
    ctx: GpuContext,
    graph: TrainingGraph,
    kernels: { pf: PrefixForward; pb: PrefixBackward; adam: AdamWUpdate },
  ) {
    this.pm = pm;
    this.maxBatch = maxBatch;
    this.maxLen = maxLen;
    this.#ctx = ctx;
    this.#graph = graph;
    this.#pf = kernels.pf;
    this.#pb = kernels.pb;
    this.#adam = kernels.adam;
    const { prefixLen: P, reparam, gate, midDim } = pm.options;
    const S = pm.width;
    this.#shapes = paramShapes(pm.config, pm.options);
    const offsets = { E: 0, W1: 0, b1: 0, W2: 0, b2: 0, a: 0 };
    let n = 0;
    for (const name of PARAM_NAMES) {
      const shape = this.#shapes[name];
      if (!shape) continue;
      offsets[name] = n;
      n += Math.ceil(shape.reduce((x, y) => x * y, 1) / 64) * 64;
    }
    this.#n = n;
    const m = reparam === "none" ? 0 : midDim;
    this.#layout = {
      P,
      S,
      m,
      K: this.#shapes.E![1],
      reparam: reparam === "none" ? 0 : reparam === "mlp" ? 1 : 2,
      gate,
      offsets,
    };
    const f = (count: number, label: string) => ctx.buffer(4 * count, label);
    this.#params = f(n, "prefix.params");
    this.#grads = f(n, "prefix.grads");
    this.#m = f(n, "adam.m");
    this.#v = f(n, "adam.v");
    this.#partial = f(NORM_PARTIALS, "adam.partial");
    this.#norm = f(1, "adam.norm");
    this.#hidden = f(Math.max(1, P * m), "prefix.hidden");
    this.#r = f(P * S, "prefix.R");
    this.#kv = f(P * S, "prefix.kv");
    this.#dkv = f(P * S, "prefix.dkv");
    this.#dr = f(P * S, "prefix.dR");
    this.#dz = f(Math.max(1, P * m), "prefix.dZ");
    this.#writeFlat(this.#params, pm.params);
  }

  /**
   * Upload the frozen weights once and allocate activations for `maxBatch x maxLen`.
   *
   * @param model a loaded model folder (GPT-2 or Llama family)
   * @param pm the prefix module to train (its current params are the start)
   * @param opts allocation limits
   * @returns the trainer
   * @throws {PrefixEdgeError} `GPU_UNAVAILABLE`, `UNSUPPORTED_MODEL`, `INVALID_INPUT`
   */
  static async create(
    model: LoadedModel,
    pm: PrefixModule,
    opts: TrainerLimits,
  ): Promise<PrefixTrainer> {
    const { maxBatch, maxLen } = opts;
    for (const [k, v] of Object.entries({ maxBatch, maxLen })) {
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
    const ctx = await GpuContext.create({ kernels: opts.kernels });
    try {
      const [graph, pf, pb, adam] = await Promise.all([
        createTrainingGraph(ctx, model, maxBatch * maxLen, {
          vocabChunk: opts.vocabChunk,
          keepLogits: opts.keepLogits,
        }),
        PrefixForward.create(ctx),
        PrefixBackward.create(ctx),
        AdamWUpdate.create(ctx),
      ]);
      return new PrefixTrainer(pm, maxBatch, maxLen, ctx, graph, { pf, pb, adam });
    } catch (e) {
      ctx.destroy();
      throw e;
    }
  }

  /** The kernel set this trainer runs (`software` or `hardware`). */
  get kernelSet(): KernelSetName {
    return this.#ctx.kernelSet.name;
  }

  /** The underlying GPU context (for timing in benchmarks). */
  get context(): GpuContext {
    return this.#ctx;
  }

  /** Number of optimizer updates applied so far. */
  get stepCount(): number {
    return this.#step;
  }

  /** Tokens accumulated since the last step. */
  get pendingTokens(): number {
    return this.#tokens;
  }

  #alive(action: string) {
    if (this.#destroyed) {
      throw new PrefixEdgeError("INVALID_INPUT", `Cannot ${action}: the trainer was destroyed`);
    }
  }

  #writeFlat(buf: GPUBuffer, values: Record<string, Float32Array>) {
    const flat = new Float32Array(this.#n);
    for (const name of PARAM_NAMES) {
      if (!this.#shapes[name]) continue;
      flat.set(values[name], this.#layout.offsets[name]);
    }
    this.#ctx.write(buf, flat);
  }

  #splitFlat(flat: Float32Array): Record<string, Float32Array> {
    const out: Record<string, Float32Array> = {};
    for (const name of PARAM_NAMES) {
      const shape = this.#shapes[name];
      if (!shape) continue;
      const o = this.#layout.offsets[name];
      out[name] = flat.slice(o, o + shape.reduce((x, y) => x * y, 1));
    }
    return out;
  }

  #recordFold(enc: GPUCommandEncoder) {
    if (!this.#kvStale) return;
    this.#pf.record(enc, this.#layout, {
      params: this.#params,
      hidden: this.#hidden,
      r: this.#r,
      kv: this.#kv,
    });
    this.#kvStale = false;
  }

  async #run(batch: TokenBatch, backward: boolean): Promise<BatchLoss> {
    const packed = packBatch(batch, this.pm.config, {
      maxBatch: this.maxBatch,
      maxLen: this.maxLen,
      prefixLen: this.pm.options.prefixLen,
    });
    const { B, T } = packed;
    const P = this.pm.options.prefixLen;
    this.#graph.head.setInputs(packed);
    const enc = this.#ctx.device.createCommandEncoder();
    this.#recordFold(enc);
    this.#graph.recordForward(enc, B, T, P, this.#kv);
    if (backward) this.#graph.recordBackward(enc, B, T, P, this.#kv, this.#dkv);
    const read = this.#ctx.stage(enc, this.#graph.head.stats, 0, B * T * 3 * 4);
    await this.#ctx.submit(enc);
    const stats = await read();
    let lossSum = 0;
    for (let r = 0; r < B * T; r++) {
      if (packed.targets[r] < 0) continue;
      lossSum += stats[3 * r] + Math.log(stats[3 * r + 1]) - stats[3 * r + 2];
    }
    if (backward) this.#tokens += packed.tokens;
    return { lossSum, tokens: packed.tokens };
  }

  /**
   * Forward and backward for one micro-batch: adds d(sum of token losses)/d(prefix) to the
   * accumulated gradient.
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
   * Forward only.
   *
   * @param batch as {@link accumulate}
   * @returns the summed loss and the number of counted tokens
   */
  evaluate(batch: TokenBatch): Promise<BatchLoss> {
    this.#alive("evaluate");
    return this.#run(batch, false);
  }

  /**
   * The model's logits from the WebGPU forward pass with the current prefix: what the
   * trained prefix does, for checking it end to end against another runtime (the ONNX
   * engine with the folded prefix must give the same numbers).
   *
   * @param batch right-padded rows (labels are not needed)
   * @param options `withoutPrefix`: the frozen base model alone, tokens at positions 0..
   * @returns `data` `[B, T, V]` f32 row-major and its `dims`
   * @throws {PrefixEdgeError} `INVALID_INPUT`, `TOKEN_OUT_OF_RANGE`, `CONTEXT_OVERFLOW`
   */
  async logits(
    batch: Pick<TokenBatch, "inputIds" | "attentionMask">,
    options: { withoutPrefix?: boolean } = {},
  ): Promise<{ data: Float32Array; dims: [number, number, number] }> {
    this.#alive("logits");
    const P = options.withoutPrefix ? 0 : this.pm.options.prefixLen;
    const labels = batch.inputIds.map((row) => row.map(() => -100));
    const packed = packBatch({ ...batch, labels }, this.pm.config, {
      maxBatch: this.maxBatch,
      maxLen: this.maxLen,
      prefixLen: P,
    });
    const { B, T } = packed;
    const M = B * T, V = this.pm.config.vocabSize;
    this.#graph.head.setInputs(packed);
    let enc = this.#ctx.device.createCommandEncoder();
    this.#recordFold(enc);
    this.#graph.recordForward(enc, B, T, P, this.#kv);
    const out = new Float32Array(M * V);
    // One readback per chunk: without keepLogits every chunk reuses the same buffer.
    for (let c = 0; c < this.#graph.head.numChunks; c++) {
      const { buffer, offset, size, vStart, vCount } = this.#graph.recordChunkLogits(enc, c, M);
      const read = this.#ctx.stage(enc, buffer, offset, size);
      await this.#ctx.submit(enc);
      const chunk = await read();
      for (let r = 0; r < M; r++) {
        out.set(chunk.subarray(r * vCount, (r + 1) * vCount), r * V + vStart);
      }
      enc = this.#ctx.device.createCommandEncoder();
    }
    return { data: out, dims: [B, T, V] };
  }

  #recordGrads(enc: GPUCommandEncoder) {
    this.#recordFold(enc);
    enc.clearBuffer(this.#grads);
    this.#pb.record(enc, this.#layout, 1 / this.#tokens, {
      params: this.#params,
      hidden: this.#hidden,
      r: this.#r,
      dkv: this.#dkv,
      dr: this.#dr,
      dz: this.#dz,
      grads: this.#grads,
    });
  }

  /**
   * The gradient of the mean loss over the tokens accumulated since the last step, without
   * stepping (for checks and `lossAndGrads`).
   *
   * @returns gradients keyed like the parameters
   * @throws {PrefixEdgeError} `INVALID_INPUT` when no token was accumulated
   */
  async readGrads(): Promise<Record<string, Float32Array>> {
    this.#alive("read gradients");
    if (this.#tokens === 0) {
      throw new PrefixEdgeError("INVALID_INPUT", "Cannot read gradients: no token was accumulated");
    }
    const enc = this.#ctx.device.createCommandEncoder();
    this.#recordGrads(enc);
    const read = this.#ctx.stage(enc, this.#grads, 0, this.#n * 4);
    await this.#ctx.submit(enc);
    return this.#splitFlat(await read());
  }

  /**
   * Divide the accumulated gradient by the tokens since the last step, clip its global L2
   * norm, apply AdamW, and clear it. A non-finite norm skips the update (parameters and
   * moments unchanged) and still clears the gradient.
   *
   * @param opt AdamW hyperparameters
   * @returns the norm before clipping, and whether the update was skipped
   * @throws {PrefixEdgeError} `INVALID_INPUT` when no token was accumulated or `lr` is bad
   */
  async step(opt: AdamWOptions): Promise<{ gradNorm: number; skipped: boolean }> {
    this.#alive("step");
    const hp = resolveAdamW(opt, this.#tokens);
    const enc = this.#ctx.device.createCommandEncoder();
    this.#recordGrads(enc);
    this.#adam.record(enc, this.#n, { ...hp, step: this.#step + 1 }, {
      grads: this.#grads,
      params: this.#params,
      m: this.#m,
      v: this.#v,
      partial: this.#partial,
      norm: this.#norm,
    });
    enc.clearBuffer(this.#dkv);
    const read = this.#ctx.stage(enc, this.#norm, 0, 4);
    await this.#ctx.submit(enc);
    const gradNorm = (await read())[0];
    this.#tokens = 0;
    const skipped = !Number.isFinite(gradNorm);
    if (!skipped) {
      this.#step++;
      this.#kvStale = true;
    }
    return { gradNorm, skipped };
  }

  /**
   * Read the current parameters from the GPU and write them into `pm.params`.
   *
   * @returns the parameters (the same arrays as `pm.params`)
   */
  async readParams(): Promise<Record<string, Float32Array>> {
    this.#alive("read parameters");
    const values = this.#splitFlat(await this.#ctx.read(this.#params, 0, this.#n * 4));
    for (const [name, v] of Object.entries(values)) this.pm.params[name].set(v);
    return this.pm.params;
  }

  /**
   * Read the AdamW state from the GPU (for checkpoints).
   *
   * @returns the step count and the moments, keyed like the parameters
   */
  async readOptimizerState(): Promise<OptimizerState> {
    this.#alive("read the optimizer state");
    const m = this.#splitFlat(await this.#ctx.read(this.#m, 0, this.#n * 4));
    const v = this.#splitFlat(await this.#ctx.read(this.#v, 0, this.#n * 4));
    return { step: this.#step, m, v };
  }

  /**
   * Restore an AdamW state (for resuming).
   *
   * @param s a state from {@link readOptimizerState}
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
    for (const name of PARAM_NAMES) {
      const shape = this.#shapes[name];
      if (!shape) continue;
      const n = shape.reduce((x, y) => x * y, 1);
      for (const [which, rec] of [["m", s.m], ["v", s.v]] as const) {
        if (rec[name]?.length !== n) {
          throw new PrefixEdgeError(
            "INVALID_INPUT",
            `Cannot load the optimizer state: ${which}.${name} must hold ${n} values, got ${
              rec[name]?.length ?? "none"
            }`,
          );
        }
      }
    }
    this.#writeFlat(this.#m, s.m);
    this.#writeFlat(this.#v, s.v);
    this.#step = s.step;
    return Promise.resolve();
  }

  /** Free the GPU buffers. The trainer cannot be used afterwards. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#ctx.destroy();
  }
}
