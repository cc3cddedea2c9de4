/**
 * Continuous batching: a batch of (non-beam) rows that decodes one batched
 * forward per step, and that new rows may join at any step boundary. Each row
 * keeps its own prefix, positions, sampling and stop rules.
 *
 * How a join works: the rows waiting to join (see
 * {@link BatchOptions.maxJoinDelaySteps} for when they do) get ONE prefill
 * forward of their own (their prefixes as `past_key_values`, laid out as in
 * {@link BatchLayout.prefill}); then their cache `[Bn, H, pn, hd]` and the
 * running one `[Br, H, pr, hd]` are stacked along the batch axis, the shorter
 * one padded on the left with columns its rows' attention masks mark 0.
 * Attention ignores masked columns and every row has explicit positions, so
 * the padding changes no row's result. From then on one forward per step runs
 * all live rows. Finished rows leave (their rows are copied out), together
 * with leading columns that no remaining row attends to, so a batch that
 * never empties does not grow without bound.
 *
 * A ragged graph (`--optimize`, `RaggedLayout`) keeps each row packed from
 * column 0 instead: caches are padded on the right, and the columns past the
 * longest remaining row are the ones that go. A row with a short prompt joins
 * it without a prefill: only its prefix is cached, and it feeds its prompt one
 * token per decode step ({@link FED_PROMPT_MAX}).
 *
 * While one row decodes alone, a step may feed it a draft as well (prompt lookup,
 * `prompt_lookup.ts`): one pass checks several tokens, and the row keeps those its own picks
 * agree with.
 *
 * On the CPU backends (wasm, native) the cache is stacked and copied on the
 * CPU. On WebGPU the cache stays on the GPU between steps, and both happen
 * there too, by small helper graphs on the same EP (Pad + Concat to join,
 * Gather + Slice to drop rows and columns; see `DecoderSession.gpuCache`):
 * copying the cache through the CPU is the performance bug docs/design.md §4 rules
 * out. Only if those graphs failed to load are rows on the GPU not joinable:
 * rows added while a batch decodes then wait until all its rows have finished
 * and start the next batch together (waves), and finished rows ride along
 * masked until then.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import type { ModelConfig, TextTokenizer } from "../model/mod.ts";
import { type DecodeLayout, prefillLayout, RaggedLayout } from "./batch_layout.ts";
import type { DecoderSession, ForwardOutputs } from "./decoder_session.ts";
import { type GenerateOptions, prepareRow } from "./generate_options.ts";
import { type GenerationStream, StreamController } from "./generation_stream.ts";
import { type KvCache, prefixCache } from "./kv_cache.ts";
import { pickToken } from "./logits_processors.ts";
import { beamSearch } from "./beam_search.ts";
import { draftFromContext, type DraftPayoff } from "./prompt_lookup.ts";
import { RowRun } from "./row_run.ts";

/** Default of {@link BatchOptions.maxJoinDelaySteps}. */
export const DEFAULT_MAX_JOIN_DELAY_STEPS = 4;

/** Waiting rows join at once when they are at least 1/4 of the live rows. */
const JOIN_FRACTION_INVERSE = 4;

/**
 * Longest prompt that joins a running ragged batch by feeding its tokens one a step in the
 * batch's decode passes (no prefill pass of its own); a longer one is prefilled first.
 */
const FED_PROMPT_MAX = 32;

/** What a batch looks like at one step boundary (see {@link BatchOptions.onStep}). */
export interface BatchStep {
  /** 0-based count of boundaries passed (0 = before the first forward pass). */
  index: number;
  /** Rows decoding: each feeds one token in the next decode forward pass. */
  liveRows: number;
  /** Rows added since the last boundary: they join at this one. */
  waitingRows: number;
}

/** Options of {@link InferenceEngine.openBatch}. */
export interface BatchOptions {
  /**
   * Called at every step boundary, before the waiting rows join. Rows added
   * from inside the callback join at this same boundary (tests use it to join
   * at a chosen step). If it throws, every row of the batch fails.
   */
  onStep?: (step: BatchStep) => void;
  /**
   * Called with each row's next-token logits `[V]` (a copy, before bans and
   * sampling), for checks and scoring. `index` is the 0-based index of the
   * token these logits choose.
   */
  onLogits?: (row: GenerationStream, index: number, logits: Float32Array) => void;
  /**
   * Most decode steps a waiting row waits before it joins a running batch
   * (default 4; 0 = join at the next boundary). Each join costs one extra
   * prefill forward, and on small models a forward's fixed cost is close to
   * a whole decode step, so joining every step costs throughput. Rows
   * therefore join as soon as they are at least a quarter of the live rows
   * (enough to amortize the prefill), or once the oldest has waited this
   * many steps, whichever comes first. An idle batch starts at once.
   */
  maxJoinDelaySteps?: number;
  /**
   * Most draft tokens a step checks when one row decodes alone (prompt lookup, see
   * `prompt_lookup.ts`; 0 = none). Default: the engine's `draftTokens`.
   */
  draftTokens?: number;
}

/** Counters of one batch's work so far. */
export interface BatchStats {
  /** Decode forward passes (one token for every live row). */
  decodeSteps: number;
  /** Prefill forward passes (one per group of rows that started or joined). */
  prefills: number;
  /** Prefills whose rows merged into a batch that was already decoding. */
  joins: number;
  /** Rows that merged into a batch that was already decoding. */
  rowsJoined: number;
  /** Most rows decoded together in one forward pass. */
  maxLiveRows: number;
  /** Sum over decode steps of the rows in each (`rowSteps / decodeSteps` = mean rows per step). */
  rowSteps: number;
  /** Draft tokens fed to be checked (prompt lookup; see {@link BatchOptions.draftTokens}). */
  draftedTokens: number;
  /** Of those, the tokens the row's own picks agreed with (each saved a decode step). */
  acceptedDraftTokens: number;
}

/** What a batch needs from its engine. */
export interface BatchContext {
  session: DecoderSession;
  config: ModelConfig;
  tokenizer: TextTokenizer | null;
  /** The ids that end a row when it names none (see `defaultEosIds`). */
  eosTokenIds: readonly number[];
  /** An in-vocabulary id fed in masked columns. */
  padId: number;
  /** Default of {@link BatchOptions.draftTokens}. */
  draftTokens: number;
  /** Whether drafts pay on this engine (shared by its batches). */
  draftPayoff: DraftPayoff;
  /** Throws if the engine has been disposed. */
  checkOpen: () => void;
}

/**
 * A batch that rows may join between decode steps. Made by
 * `InferenceEngine.openBatch()`; `generateBatch` uses one per call.
 *
 * @example Let a second row join a running batch
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { loadModel } from "../model/mod.ts";
 * import { InferenceEngine } from "./inference_engine.ts";
 * const engine = await InferenceEngine.create(await loadModel("models/stories260K"), {
 *   executionProvider: "wasm",
 * });
 * const batch = engine.openBatch();
 * const a = batch.add({ prompt: "Lily", maxNewTokens: 12 });
 * const b = batch.add({ prompt: "Tom", maxNewTokens: 6 }); // joins within a few steps
 * const [ra, rb] = await Promise.all([a.result, b.result]);
 * assertEquals([ra.tokenIds.length, rb.tokenIds.length], [12, 6]);
 * await engine.dispose();
 * ```
 */
export class ContinuousBatch {
  /**
   * Whether rows added while the batch decodes join it at a coming step
   * boundary: with the cache on the CPU, or on the GPU when the session has
   * its on-device cache graphs (`DecoderSession.gpuCache`). `false` only on
   * WebGPU without them: there rows wait until the running rows have all
   * finished.
   */
  readonly joinable: boolean;
  readonly #ctx: BatchContext;
  readonly #onStep?: (step: BatchStep) => void;
  readonly #onLogits?: BatchOptions["onLogits"];
  readonly #maxJoinDelay: number;
  readonly #draftTokens: number;
  /** `decodeSteps` when the oldest waiting row was added. */
  #waitingSince = 0;
  /** Rows added since the last boundary. */
  #pending: RowRun[] = [];
  /** Live rows, in cache row order. */
  #runs: RowRun[] = [];
  /** `[B, H, past, hd]` per slot; `past === #layout.width` between steps. */
  #cache: KvCache | undefined;
  #layout: DecodeLayout | undefined;
  /** `[B]` the token each live row feeds at the next step. */
  #next: number[] = [];
  /** Rows that joined a ragged batch without a prefill: how many prompt tokens each has fed. */
  readonly #promptFed = new Map<RowRun, number>();
  #loop: Promise<void> | undefined;
  #boundary = 0;
  readonly #stats: BatchStats = {
    decodeSteps: 0,
    prefills: 0,
    joins: 0,
    rowsJoined: 0,
    maxLiveRows: 0,
    rowSteps: 0,
    draftedTokens: 0,
    acceptedDraftTokens: 0,
  };

  /**
   * Use `InferenceEngine.openBatch()`.
   *
   * @param ctx the engine's session and model facts
   * @param options step callback
   */
  constructor(ctx: BatchContext, options: BatchOptions = {}) {
    this.#ctx = ctx;
    this.#onStep = options.onStep;
    this.#onLogits = options.onLogits;
    this.#maxJoinDelay = wholeNumber(
      "open a batch",
      "maxJoinDelaySteps",
      options.maxJoinDelaySteps ?? DEFAULT_MAX_JOIN_DELAY_STEPS,
    );
    this.#draftTokens = wholeNumber(
      "open a batch",
      "draftTokens",
      options.draftTokens ?? ctx.draftTokens,
    );
    this.joinable = !ctx.session.kvOnGpu || ctx.session.gpuCache !== undefined;
  }

  /** Rows live or waiting to join (beam-search rows excluded: they run on their own). */
  get size(): number {
    return this.#runs.filter((r) => !r.done).length + this.#pending.length;
  }

  /** A copy of the batch's counters. */
  get stats(): BatchStats {
    return { ...this.#stats };
  }

  /**
   * Add one row. It joins the running batch at a coming step boundary (see
   * {@link BatchOptions.maxJoinDelaySteps}) or starts an idle one; a row
   * with `numBeams > 1` runs beam search as its own group.
   *
   * @param opts prompt or ids, prefix, sampling and stop rules
   * @returns the row's token stream
   * @throws {PrefixEdgeError} synchronously for invalid options (see `prepareRow`)
   */
  add(opts: GenerateOptions): GenerationStream {
    return this.addAll([opts])[0];
  }

  /**
   * Add several rows at once; they share one prefill forward. All rows are
   * validated before any is added.
   *
   * @param rows one options object per row
   * @returns one stream per row, in order
   * @throws {PrefixEdgeError} synchronously if any row is invalid (naming it)
   */
  addAll(rows: readonly GenerateOptions[]): GenerationStream[] {
    const { config, tokenizer, eosTokenIds } = this.#ctx;
    this.#ctx.checkOpen();
    const prepared = rows.map((r, i) =>
      prepareRow(
        r,
        config,
        tokenizer,
        eosTokenIds,
        rows.length > 1 ? `generate row ${i}` : "generate",
      )
    );
    const runs = prepared.map((p) => new RowRun(p, tokenizer, new StreamController()));
    if (this.#pending.length === 0) this.#waitingSince = this.#stats.decodeSteps;
    for (const run of runs) {
      if (run.row.numBeams > 1) {
        void beamSearch(this.#ctx.session, config, run, this.#ctx.padId);
      } else {
        this.#pending.push(run);
      }
    }
    if (this.#pending.length > 0) this.#kick();
    return runs.map((r) => r.controller.stream);
  }

  #kick(): void {
    if (this.#loop) return;
    this.#loop = this.#run().finally(() => {
      this.#loop = undefined;
      // Rows added after the loop's last look but before it ended.
      if (this.#pending.length > 0) this.#kick();
    });
  }

  async #run(): Promise<void> {
    // One microtask: rows added in the same tick as the first share its prefill.
    await Promise.resolve();
    try {
      while (true) {
        this.#onStep?.({
          index: this.#boundary++,
          liveRows: this.#runs.length,
          waitingRows: this.#pending.length,
        });
        if (this.#pending.length > 0 && (this.#runs.length === 0 || this.#joinDue())) {
          await this.#join();
        }
        if (this.#runs.length === 0) {
          if (this.#pending.length === 0) return;
          continue;
        }
        const stepStart = performance.now();
        await this.#decodeStep();
        await serveEventLoop(performance.now() - stepStart);
      }
    } catch (e) {
      for (const r of [...this.#runs, ...this.#pending.splice(0)]) r.controller.fail(e);
      this.#reset();
    }
  }

  /** Whether the waiting rows join the running batch at this boundary (see `maxJoinDelaySteps`). */
  #joinDue(): boolean {
    if (!this.joinable) return false;
    return this.#pending.length * JOIN_FRACTION_INVERSE >= this.#runs.length ||
      this.#stats.decodeSteps - this.#waitingSince >= this.#maxJoinDelay;
  }

  /** Prefill the waiting rows in one forward pass and merge them into the batch. */
  async #join(): Promise<void> {
    const { session, config, padId } = this.#ctx;
    let joining = this.#pending.splice(0).filter((r) => !closeIfTrivial(r));
    if (session.ragged && !session.kvOnGpu && this.#runs.length > 0) {
      // A ragged batch takes short prompts as they are: each joining row feeds a prompt token
      // per decode step, at its own length, with no prefill pass and no wait for one.
      const fed = joining.filter((r) => r.row.promptIds.length <= FED_PROMPT_MAX);
      await this.#admit(fed);
      joining = joining.filter((r) => !fed.includes(r));
    }
    if (joining.length === 0) return;
    const first = prefixCache(session.backend, config, joining.map((r) => r.row.prefix));
    let out: ForwardOutputs;
    const pre = prefillLayout(
      session.ragged,
      joining.map((r) => r.row.prefix?.prefixLen ?? 0),
      joining.map((r) => r.row.promptIds),
      padId,
    );
    try {
      out = await session.forward({ ...pre.step, batch: joining.length, cache: first });
    } catch (e) {
      // A failed prefill fails its own rows only; the running rows go on.
      for (const r of joining) r.controller.fail(e);
      return;
    } finally {
      first.dispose();
    }
    this.#stats.prefills++;
    const next = pickAll(joining, out, pre.step.lastColumn, padId, this.#onLogits);
    if (this.#runs.length === 0) {
      this.#cache = out.cache;
      this.#layout = pre.layout;
      this.#runs = joining;
      this.#next = next;
    } else if (!(await this.#merge(joining, out.cache, pre.layout, next))) {
      return;
    }
    await this.#compact();
  }

  /**
   * Stack rows onto the running batch: their cache (released here) after the running one, their
   * layout, and the tokens they feed next. If stacking fails, those rows fail and the running
   * rows go on.
   *
   * @returns whether the rows joined
   */
  async #merge(
    rows: RowRun[],
    cache: KvCache,
    layout: DecodeLayout,
    next: number[],
  ): Promise<boolean> {
    const { session } = this.#ctx;
    const old = this.#cache!;
    try {
      this.#cache = await old.concat(session.backend, cache, session.gpuCache, layout.padSide);
    } catch (e) {
      for (const r of rows) r.controller.fail(e);
      return false;
    } finally {
      cache.dispose();
    }
    old.dispose();
    this.#layout = this.#layout!.concat(layout);
    this.#runs = [...this.#runs, ...rows];
    this.#next = [...this.#next, ...next];
    this.#stats.joins++;
    this.#stats.rowsJoined += rows.length;
    return true;
  }

  /**
   * Add rows to a running ragged batch with only their prefixes cached; the decode steps feed
   * their prompts (see {@link FED_PROMPT_MAX}).
   */
  async #admit(rows: RowRun[]): Promise<void> {
    if (rows.length === 0) return;
    const { session, config } = this.#ctx;
    const joined = await this.#merge(
      rows,
      prefixCache(session.backend, config, rows.map((r) => r.row.prefix)),
      RaggedLayout.start(rows.map((r) => r.row.prefix?.prefixLen ?? 0)),
      rows.map((r) => r.row.promptIds[0]),
    );
    if (joined) { for (const r of rows) this.#promptFed.set(r, 0); }
  }

  /**
   * The prompt token a row that is still feeding its prompt feeds next, or `undefined` once its
   * prompt is in (it samples from this step's logits).
   */
  #nextPromptToken(run: RowRun): number | undefined {
    const fed = this.#promptFed.get(run);
    if (fed === undefined) return undefined;
    const ids = run.row.promptIds;
    if (fed + 1 < ids.length) {
      this.#promptFed.set(run, fed + 1);
      return ids[fed + 1];
    }
    this.#promptFed.delete(run);
    return undefined;
  }

  /**
   * The draft the next step checks (prompt lookup): only while one row decodes alone, no row
   * waits to join, and the row is past its prompt; with the cache on the GPU, only where the
   * session drops rejected columns there (`gpuCache`). The draft leaves room for the token its
   * last column picks, within the row's token limit and the context.
   */
  #draft(): number[] {
    if (this.#draftTokens === 0 || this.#runs.length !== 1 || this.#pending.length > 0) return [];
    const run = this.#runs[0], { session } = this.#ctx;
    if (run.done || run.aborted || this.#promptFed.has(run)) return [];
    if (session.kvOnGpu && !session.gpuCache) return [];
    const room = Math.min(
      this.#draftTokens,
      run.row.maxNewTokens - run.generated.length - 1,
      this.#ctx.config.maxPositions - 1 - this.#layout!.nextPosition(0),
    );
    const draft = draftFromContext(run.context, room);
    return draft.length > 0 && this.#ctx.draftPayoff.worthDrafting() ? draft : [];
  }

  /**
   * One forward pass over every live row: each feeds its next token. While one row decodes
   * alone, it may feed a draft after it as well (see `#keepDraft`).
   */
  async #decodeStep(): Promise<void> {
    const draft = this.#draft();
    const start = performance.now();
    const step = draft.length > 0
      ? this.#layout!.feed([this.#next[0], ...draft])
      : this.#layout!.step(this.#next);
    const B = this.#runs.length;
    this.#stats.maxLiveRows = Math.max(this.#stats.maxLiveRows, B);
    let out: ForwardOutputs;
    try {
      out = await this.#ctx.session.forward({ ...step, batch: B, cache: this.#cache! });
    } catch (e) {
      for (const r of this.#runs) r.controller.fail(e);
      this.#reset();
      return;
    }
    this.#stats.decodeSteps++;
    this.#stats.rowSteps += B;
    this.#cache!.dispose();
    this.#cache = out.cache;
    if (draft.length > 0) {
      const emitted = await this.#keepDraft(draft, out);
      this.#ctx.draftPayoff.recordDraft(performance.now() - start, emitted);
    } else {
      if (B === 1) this.#ctx.draftPayoff.recordPlain(performance.now() - start);
      this.#next = pickAll(
        this.#runs,
        out,
        step.lastColumn,
        this.#ctx.padId,
        this.#onLogits,
        (run) => this.#nextPromptToken(run),
      );
    }
    await this.#compact();
  }

  /**
   * After a pass over the lone row's next token and a draft: column j's logits pick the token
   * after the j-th token fed, as a one-token step would (same logits processors, same random
   * draws in the same order), so the row's tokens are the ones plain decoding gives. The draft is
   * kept up to the first token its pick disagrees with; the columns after that leave the cache.
   *
   * @returns the tokens the pass emitted, at least 1 (for the payoff's time per token)
   */
  async #keepDraft(draft: number[], out: ForwardOutputs): Promise<number> {
    const run = this.#runs[0], fed = [this.#next[0], ...draft];
    const { session, padId } = this.#ctx;
    this.#stats.draftedTokens += draft.length;
    run.draftedTokens += draft.length;
    const V = out.dims[2];
    let used = 0, next = padId;
    while (used < fed.length && !run.done) {
      if (run.aborted) {
        run.finish("cancelled");
        break;
      }
      if (used > 0) {
        // This pick reads the logits after an agreed draft token: that token is kept. Counted
        // before the pick, which may end the row and seal its result.
        run.acceptedDraftTokens++;
        this.#stats.acceptedDraftTokens++;
      }
      next = pickFrom(run, out.logits.subarray(used * V, (used + 1) * V), this.#onLogits);
      used++;
      if (next !== fed[used]) break;
    }
    this.#next = [run.done ? padId : next];
    const rejected = fed.length - used;
    if (rejected > 0 && !run.done) {
      const old = this.#cache!;
      this.#cache = await old.selectRows(
        session.backend,
        [0],
        [0, old.pastLen - rejected],
        session.gpuCache,
      );
      old.dispose();
      this.#layout!.rewind(rejected);
    }
    return used || 1;
  }

  /** Drop finished rows and the leading columns nobody attends to. */
  async #compact(): Promise<void> {
    const keep = this.#runs.map((r, b) => (r.done ? -1 : b)).filter((b) => b >= 0);
    if (keep.length === 0) return this.#reset();
    if (keep.length === this.#runs.length) return;
    const { session } = this.#ctx;
    // Without the on-device graphs a GPU cache is not copied out (docs/design.md §4):
    // finished rows ride along masked until the batch empties.
    if (this.#cache!.tensors[0].location !== "cpu" && !session.gpuCache) return;
    const columns = this.#layout!.keptColumns(keep);
    const old = this.#cache!;
    this.#cache = await old.selectRows(session.backend, keep, columns, session.gpuCache);
    old.dispose();
    this.#layout = this.#layout!.selectRows(keep, columns);
    for (const r of this.#runs) if (r.done) this.#promptFed.delete(r);
    this.#runs = keep.map((b) => this.#runs[b]);
    this.#next = keep.map((b) => this.#next[b]);
  }

  #reset(): void {
    this.#promptFed.clear();
    this.#cache?.dispose();
    this.#cache = undefined;
    this.#layout = undefined;
    this.#runs = [];
    this.#next = [];
  }
}

/**
 * Sample each row's next token from its own last real column, record it, and
 * end rows that were aborted.
 *
 * @param prompted a row's next prompt token while it is feeding its prompt (no sampling then)
 * @returns `[B]` the tokens to feed next (`padId` for rows that have ended)
 */
function pickAll(
  runs: readonly RowRun[],
  out: ForwardOutputs,
  lastColumn: readonly number[],
  padId: number,
  onLogits: BatchOptions["onLogits"],
  prompted: (run: RowRun) => number | undefined = () => undefined,
): number[] {
  const [, T, V] = out.dims;
  return runs.map((run, b) => {
    if (run.done) return padId;
    if (run.aborted) {
      run.finish("cancelled");
      return padId;
    }
    const promptToken = prompted(run);
    if (promptToken !== undefined) return promptToken;
    const at = (b * T + lastColumn[b]) * V;
    return pickFrom(run, out.logits.subarray(at, at + V), onLogits);
  });
}

/**
 * Pick a row's next token from one column's logits and record it; `onLogits` sees them first.
 *
 * @param logits `[V]`, copied here before the logits processors change them
 * @returns the token
 */
function pickFrom(
  run: RowRun,
  logits: Float32Array,
  onLogits: BatchOptions["onLogits"],
): number {
  const own = logits.slice();
  onLogits?.(run.controller.stream, run.generated.length, own.slice());
  const id = pickToken(own, run.row.sampling, run.context, run.rng);
  run.accept(id);
  return id;
}

/** Most event-loop turns between two decode steps, and their share of a step's time. */
const MAX_TURNS_PER_STEP = 32, TURNS_SHARE_OF_STEP = 0.05;

/**
 * Lets the event loop run between two decode steps, so that a server reads new requests (which
 * then join at the next boundary), answers finished rows, and sees disconnects and timers: at
 * least one turn, and more while they cost less than 5% of the step just run, up to 32.
 *
 * One turn is too few. WASM runs the forward pass on this thread, and onnxruntime-node runs it
 * on this thread too, inside one `setImmediate`. An HTTP request takes many turns to be read,
 * handled and answered. Measured on a native server decoding a long stories260K row (about
 * 1.4 ms a step), a 2-token request from another client was answered in about 80 ms with the
 * one turn onnxruntime-node gives, 30-45 ms with this rule and 9 ms with 32 turns every step; and
 * through bench/serve_load_bench.ts with 4 clients on a GPT-2-small-shaped model, no request
 * joined a running batch before, and nearly every one after.
 *
 * @param stepMs how long the decode step took
 */
async function serveEventLoop(stepMs: number): Promise<void> {
  const start = performance.now(), budget = stepMs * TURNS_SHARE_OF_STEP;
  for (let turn = 0; turn < MAX_TURNS_PER_STEP; turn++) {
    await yieldToEventLoop();
    if (performance.now() - start >= budget) return;
  }
}

/**
 * Resolves after one event-loop turn, in which pending I/O and due timers run.
 * `setImmediate` (Deno, Node) costs ~4 µs here; `setTimeout(0)` costs ~2 ms, more
 * than a whole decode step of a small model, so a page, which has no
 * `setImmediate`, posts itself a message instead (a task, not clamped).
 */
const yieldToEventLoop: () => Promise<void> = typeof globalThis.setImmediate === "function"
  ? () => new Promise((resolve) => globalThis.setImmediate(resolve))
  : (() => {
    const channel = new MessageChannel();
    const waiting: (() => void)[] = [];
    channel.port1.onmessage = () => waiting.shift()?.();
    return () =>
      new Promise<void>((resolve) => {
        waiting.push(resolve);
        channel.port2.postMessage(null);
      });
  })();

/**
 * An option that counts something: `value` if it is an integer >= 0.
 *
 * @param what what the caller was doing, for the error ("open a batch")
 * @param name the option's name
 * @returns `value`
 * @throws {PrefixEdgeError} `INVALID_INPUT` otherwise
 */
export function wholeNumber(what: string, name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      `Cannot ${what}: ${name} must be an integer >= 0, got ${value}`,
    );
  }
  return value;
}

/** Ends rows that need no forward pass (aborted already, or 0 new tokens). */
function closeIfTrivial(run: RowRun): boolean {
  if (run.aborted) run.finish("cancelled");
  else if (run.row.maxNewTokens <= 0) run.finish("length");
  return run.done;
}
