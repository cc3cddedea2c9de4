/**
 * The scheduler: one base model, many tasks. Requests that arrive within a
 * short window are batched ACROSS tasks; each row carries its own prefix and
 * the engine runs one forward per step over all rows.
 *
 * Two modes, chosen once from the engine:
 *
 * - **Joining** (the engine has `openBatch()` and its batch is `joinable`:
 *   the real engine on wasm and native). One engine batch runs; a request
 *   that arrives while it decodes is added to it at once, up to `maxBatch`
 *   rows, and joins at a coming step boundary (the engine's join policy
 *   waits a few steps for company, so one prefill serves several rows). Only an idle batch waits out
 *   the batching window, so the first rows of a burst still share one
 *   prefill. `maxConcurrentBatches` is not used: there is one batch.
 * - **Waves** (any other engine, e.g. WebGPU with the cache on the GPU):
 *   `generateBatch(rows)` takes a fixed set of rows, so requests that arrive
 *   while a wave runs wait (bounded queue) and form the next wave as soon as
 *   slots free up. A row that finishes frees its slot at once; with
 *   `maxConcurrentBatches > 1` a freed slot starts a new wave without
 *   waiting for the rest of the old one.
 *
 * Beam search (`numBeams > 1`): a beam row expands to `numBeams` engine rows.
 * In waves it runs as a wave of its own; when joining it takes `numBeams`
 * slots (at most `maxBatch`) and the engine runs it as its own group.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import type { Prefix } from "../model/mod.ts";
import { Channel } from "./_channel.ts";
import type {
  JoinableBatch,
  RowOptions,
  RowResult,
  RowStream,
  RowToken,
  ServeEngine,
} from "./engine_port.ts";
import type { ServerMetrics } from "./server_metrics.ts";

/** Scheduler settings. */
export interface SchedulerOptions {
  /** Most rows in one engine batch (default 16). `1` turns cross-task batching off. */
  maxBatch?: number;
  /** How long the first request of a batch waits for company, in ms (default 10). */
  batchWindowMs?: number;
  /** Most requests waiting for a slot; more get `QUEUE_FULL` (default 256). */
  maxQueue?: number;
  /** Longest wait for a slot, in ms, before `TIMEOUT` (default 30 000). */
  queueTimeoutMs?: number;
  /** Longest whole request (queue + generation), in ms, before `TIMEOUT` (default 120 000). */
  requestTimeoutMs?: number;
  /** Engine batches that may run at once, waves only (default 1: one ONNX session, one run at a time). */
  maxConcurrentBatches?: number;
  /**
   * Let requests join the running engine batch when the engine supports it
   * (default `true`); `false` batches per wave. Joining cuts the wait of a
   * request that arrives mid-batch, but every row of a padded batch attends
   * over the widest row's columns, so with long-lived rows beside short ones
   * a decode step costs more than in a fresh wave (see bench/RESULTS.md).
   */
  joinRunningBatch?: boolean;
  /** Where to count batches, queue depth and waits. */
  metrics?: ServerMetrics;
}

/** One request for the scheduler. */
export interface ScheduleRequest {
  /** Task name (`base` for no prefix), for metrics. */
  task: string;
  /** The task's prefix, or `null` for the bare base model. */
  prefix: Prefix | null;
  /** Generation options for this row (prefix and signal are set by the scheduler). */
  options: Omit<RowOptions, "prefix" | "signal">;
  /** Aborting it (client gone) cancels the row, or drops it from the queue. */
  signal?: AbortSignal;
}

/** A scheduled row: its tokens as they come, and its result. */
export interface ScheduledRow {
  /** Tokens as the engine produces them. */
  tokens: AsyncIterable<RowToken>;
  /**
   * The row's result. Rejects with `TIMEOUT` (queue or request timeout),
   * `CANCELLED` (client gone while queued) or the engine's error.
   */
  result: Promise<RowResult>;
}

/** A snapshot of the scheduler's state. */
export interface SchedulerStats {
  /** Requests waiting for a slot. */
  queued: number;
  /** Rows being generated. */
  activeRows: number;
  /** Engine batches running (when joining: 1 while any row runs). */
  runningBatches: number;
  /** Whether requests join the running batch (`true`) or wait for the next wave. */
  joining: boolean;
  /** Requests added to an engine batch that was already decoding (joining mode; cumulative). */
  joinedRows: number;
}

interface Job {
  req: ScheduleRequest;
  tokens: Channel<RowToken>;
  resolve: (r: RowResult) => void;
  reject: (e: unknown) => void;
  controller: AbortController;
  enqueuedAt: number;
  state: "queued" | "running" | "done";
  timedOut: boolean;
  /** Set after a batch refused it: run it in a wave of its own. */
  alone: boolean;
  /** Engine rows it takes: `numBeams` for beam search, else 1. */
  cost: number;
  cleanup: () => void;
}

/**
 * Batches requests across tasks onto one engine.
 *
 * @example Schedule two tasks into one batch
 * ```ts
 * import { InferenceEngine } from "../infer/mod.ts";
 * import { loadModel } from "../model/mod.ts";
 * import { Scheduler } from "./scheduler.ts";
 * const engine = await InferenceEngine.create(await loadModel("models/stories260K"), {
 *   executionProvider: "wasm",
 * });
 * const scheduler = new Scheduler(engine, { maxBatch: 8, batchWindowMs: 5 });
 * const a = scheduler.submit({ task: "a", prefix: null, options: { prompt: "Hi", maxNewTokens: 4 } });
 * const b = scheduler.submit({ task: "b", prefix: null, options: { prompt: "Yo", maxNewTokens: 4 } });
 * console.log((await a.result).text, (await b.result).text); // one batch, one row each
 * scheduler.close();
 * await engine.dispose();
 * ```
 */
export class Scheduler {
  /** Most rows in one engine batch. */
  readonly maxBatch: number;
  /** How long the first request of a batch waits for company, ms. */
  readonly batchWindowMs: number;
  /** Most waiting requests. */
  readonly maxQueue: number;
  /** Longest wait for a slot, ms. */
  readonly queueTimeoutMs: number;
  /** Longest whole request, ms. */
  readonly requestTimeoutMs: number;
  /** Engine batches that may run at once. */
  readonly maxConcurrentBatches: number;
  readonly #engine: ServeEngine;
  readonly #metrics?: ServerMetrics;
  /** The engine batch requests join, or `undefined` in wave mode. */
  readonly #batch: JoinableBatch | undefined;
  /** Jobs running in the joined batch (joining mode), for tasks-per-batch. */
  readonly #live = new Set<Job>();
  #joinedRows = 0;
  #queue: Job[] = [];
  #activeRows = 0;
  #running = 0;
  #windowTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  /** When the last wave ended (performance.now()); the next window starts no earlier. */
  #lastWaveEnd = -Infinity;

  /**
   * Create a scheduler over one engine.
   *
   * @param engine the inference engine (or any {@link ServeEngine})
   * @param options batching, queue and timeout settings
   * @throws {PrefixEdgeError} `INVALID_INPUT` for a setting out of range
   */
  constructor(engine: ServeEngine, options: SchedulerOptions = {}) {
    this.#engine = engine;
    this.#metrics = options.metrics;
    const int = (name: string, v: number, min: number) => {
      if (!Number.isInteger(v) || v < min) {
        throw new PrefixEdgeError(
          "INVALID_INPUT",
          `Cannot create the scheduler: ${name} must be an integer >= ${min}, got ${v}`,
        );
      }
      return v;
    };
    this.maxBatch = int("maxBatch", options.maxBatch ?? 16, 1);
    this.batchWindowMs = int("batchWindowMs", options.batchWindowMs ?? 10, 0);
    this.maxQueue = int("maxQueue", options.maxQueue ?? 256, 0);
    this.queueTimeoutMs = int("queueTimeoutMs", options.queueTimeoutMs ?? 30_000, 1);
    this.requestTimeoutMs = int("requestTimeoutMs", options.requestTimeoutMs ?? 120_000, 1);
    this.maxConcurrentBatches = int("maxConcurrentBatches", options.maxConcurrentBatches ?? 1, 1);
    // Feature-detect joining: an engine without openBatch, or whose batch
    // cannot merge rows (cache on the GPU), is batched per wave.
    const batch = options.joinRunningBatch !== false && typeof engine.openBatch === "function"
      ? engine.openBatch()
      : undefined;
    this.#batch = batch?.joinable ? batch : undefined;
  }

  /** Whether requests join the running engine batch (see the module doc). */
  get joining(): boolean {
    return this.#batch !== undefined;
  }

  /**
   * A snapshot of the scheduler's state.
   *
   * @returns queue depth, active rows and running batches
   */
  stats(): SchedulerStats {
    return {
      queued: this.#queue.length,
      activeRows: this.#activeRows,
      runningBatches: this.#batch ? (this.#activeRows > 0 ? 1 : 0) : this.#running,
      joining: this.joining,
      joinedRows: this.#joinedRows,
    };
  }

  /**
   * Queue one request.
   *
   * @param req the task, its prefix, generation options and abort signal
   * @returns the row's token stream and result
   * @throws {PrefixEdgeError} `QUEUE_FULL` when `maxQueue` requests already
   *   wait, `CANCELLED` when the signal is already aborted, `BACKEND_UNAVAILABLE`
   *   after {@link Scheduler.close}
   */
  submit(req: ScheduleRequest): ScheduledRow {
    if (this.#closed) {
      throw new PrefixEdgeError(
        "BACKEND_UNAVAILABLE",
        "Cannot queue the request: the server is shutting down",
      );
    }
    if (req.signal?.aborted) {
      throw new PrefixEdgeError("CANCELLED", "Cannot queue the request: the client has gone");
    }
    // A request that can start now (free slot, nothing ahead of it) never counts as queued.
    if (this.#queue.length >= this.maxQueue && !(this.#queue.length === 0 && this.#canStart())) {
      this.#metrics?.rejected.inc({ reason: "queue_full" });
      throw new PrefixEdgeError(
        "QUEUE_FULL",
        `Cannot queue the request: ${this.#queue.length} requests already wait (limit ${this.maxQueue})`,
      );
    }
    let resolve!: (r: RowResult) => void, reject!: (e: unknown) => void;
    const result = new Promise<RowResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const job: Job = {
      req,
      tokens: new Channel<RowToken>(),
      resolve,
      reject,
      controller: new AbortController(),
      enqueuedAt: performance.now(),
      state: "queued",
      timedOut: false,
      alone: (req.options.numBeams ?? 1) > 1,
      // A beam row wider than a batch still runs (alone): never cost more than maxBatch.
      cost: Math.min(Math.max(1, req.options.numBeams ?? 1), this.maxBatch),
      cleanup: () => {},
    };
    const onAbort = () => this.#cancel(job, "client");
    req.signal?.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(() => this.#cancel(job, "timeout"), this.requestTimeoutMs);
    const queueTimer = setTimeout(() => {
      if (job.state === "queued") this.#cancel(job, "queue_timeout");
    }, this.queueTimeoutMs);
    job.cleanup = () => {
      clearTimeout(timer);
      clearTimeout(queueTimer);
      req.signal?.removeEventListener("abort", onAbort);
    };
    this.#queue.push(job);
    this.#metrics?.queueDepth.set(this.#queue.length);
    this.#pump();
    return { tokens: job.tokens, result };
  }

  /**
   * Stop accepting requests, fail those still queued and cancel running rows.
   */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#windowTimer);
    for (const job of [...this.#queue]) {
      this.#finish(
        job,
        undefined,
        new PrefixEdgeError("CANCELLED", "Cannot run the request: the server is shutting down"),
      );
    }
    this.#queue = [];
    this.#metrics?.queueDepth.set(0);
  }

  #cancel(job: Job, why: "client" | "timeout" | "queue_timeout"): void {
    if (job.state === "done") return;
    if (job.state === "queued") {
      this.#queue.splice(this.#queue.indexOf(job), 1);
      this.#metrics?.queueDepth.set(this.#queue.length);
      if (why === "client") this.#metrics?.cancelled.inc({ reason: "client" });
      else this.#metrics?.rejected.inc({ reason: "queue_timeout" });
      this.#finish(
        job,
        undefined,
        why === "client"
          ? new PrefixEdgeError("CANCELLED", "Cannot run the request: the client has gone")
          : new PrefixEdgeError(
            "TIMEOUT",
            `Cannot run the request: no slot freed up within ${
              why === "queue_timeout" ? this.queueTimeoutMs : this.requestTimeoutMs
            } ms`,
          ),
      );
      return;
    }
    // Running: abort this row only; the engine ends it at the next step.
    job.timedOut = why !== "client";
    this.#metrics?.cancelled.inc({ reason: why === "client" ? "client" : "timeout" });
    job.controller.abort(
      new PrefixEdgeError(
        why === "client" ? "CANCELLED" : "TIMEOUT",
        why === "client"
          ? "Cannot finish the request: the client has gone"
          : `Cannot finish the request: it ran longer than ${this.requestTimeoutMs} ms`,
      ),
    );
  }

  #finish(job: Job, result: RowResult | undefined, error?: unknown): void {
    if (job.state === "done") return;
    job.state = "done";
    job.cleanup();
    if (error !== undefined) {
      job.tokens.fail(error);
      job.reject(error);
    } else {
      job.tokens.close();
      job.resolve(result!);
    }
  }

  #canStart(): boolean {
    if (this.#batch) return !this.#closed && this.#activeRows < this.maxBatch;
    return !this.#closed && this.#running < this.maxConcurrentBatches &&
      this.#activeRows < this.maxBatch * this.maxConcurrentBatches;
  }

  /** Start as many waves as slots and the concurrency limit allow, or join rows. */
  #pump(): void {
    if (this.#batch) return this.#pumpJoin(this.#batch);
    while (this.#queue.length && this.#canStart()) {
      const free = this.maxBatch * this.maxConcurrentBatches - this.#activeRows;
      const room = Math.min(this.maxBatch, free);
      // Wait out the batching window unless the batch is already full.
      if (this.#waitForCompany(room)) return;
      this.#startWave(this.#take(room));
    }
  }

  /**
   * Whether the oldest queued job should wait longer for others to batch with: the
   * queue holds fewer than `room` jobs and the batching window has not passed. Arms
   * the timer that pumps again when it does. The window starts no earlier than the
   * end of the last wave: an engine whose steps never yield to the event loop leaves
   * requests that arrived during the wave unread on their sockets, and this gives
   * them time to queue.
   */
  #waitForCompany(room: number): boolean {
    const waited = performance.now() - Math.max(this.#queue[0].enqueuedAt, this.#lastWaveEnd);
    if (this.#queue.length >= room || waited >= this.batchWindowMs) return false;
    if (this.#windowTimer === undefined) {
      this.#windowTimer = setTimeout(() => {
        this.#windowTimer = undefined;
        this.#pump();
      }, this.batchWindowMs - waited);
    }
    return true;
  }

  /** Joining mode: add queued jobs (oldest first) to the engine batch while they fit. */
  #pumpJoin(batch: JoinableBatch): void {
    if (this.#closed || this.#queue.length === 0) return;
    const room = this.maxBatch - this.#activeRows;
    if (room < this.#queue[0].cost) return;
    if (this.#activeRows === 0) {
      // An idle batch waits out the window for company (unless full), so a
      // burst shares one prefill; a running batch takes rows at once.
      if (this.#waitForCompany(room)) return;
    }
    // FIFO: stop at the first job that does not fit, so a wide beam row is not starved.
    const picked: Job[] = [];
    let used = 0;
    while (this.#queue.length > 0 && used + this.#queue[0].cost <= room) {
      const job = this.#queue.shift()!;
      used += job.cost;
      picked.push(job);
    }
    this.#join(batch, picked);
  }

  /** Joining mode: hand jobs to the engine batch; a row it refuses fails alone. */
  #join(batch: JoinableBatch, jobs: Job[]): void {
    this.#metrics?.queueDepth.set(this.#queue.length);
    // Whether a (non-beam) engine batch is decoding: rows added now merge into it.
    const decoding = [...this.#live].some((j) => (j.req.options.numBeams ?? 1) <= 1);
    const now = performance.now();
    const started: [Job, RowStream][] = [];
    for (const job of jobs) {
      job.state = "running";
      this.#metrics?.queueSeconds.observe((now - job.enqueuedAt) / 1000);
      try {
        started.push([
          job,
          batch.add({ ...job.req.options, prefix: job.req.prefix, signal: job.controller.signal }),
        ]);
      } catch (e) {
        this.#finish(job, undefined, e);
      }
    }
    if (started.length === 0) {
      // Every row was refused: nothing will finish to pump the queue again.
      queueMicrotask(() => this.#pump());
      return;
    }
    for (const [job] of started) {
      this.#live.add(job);
      this.#activeRows += job.cost;
    }
    this.#metrics?.activeRows.set(this.#activeRows);
    // Per join: the batch as it is right after these rows joined.
    this.#metrics?.batches.inc();
    this.#metrics?.batchSize.observe(this.#live.size);
    this.#metrics?.tasksPerBatch.observe(new Set([...this.#live].map((j) => j.req.task)).size);
    if (decoding) {
      // Beam rows run as their own engine group: they never merge into a decoding batch.
      const merged = started.filter(([j]) => (j.req.options.numBeams ?? 1) <= 1).length;
      this.#joinedRows += merged;
      if (merged > 0) this.#metrics?.joins.inc({}, merged);
    }
    for (const [job, stream] of started) {
      this.#drain(job, stream).finally(() => {
        this.#live.delete(job);
        this.#activeRows -= job.cost;
        this.#metrics?.activeRows.set(this.#activeRows);
        if (this.#activeRows === 0) this.#lastWaveEnd = performance.now();
        this.#pump();
      });
    }
  }

  /** Take up to `room` jobs from the queue; a job that must run alone takes a wave to itself. */
  #take(room: number): Job[] {
    const first = this.#queue[0];
    if (first.alone) return this.#queue.splice(0, 1);
    const picked: Job[] = [];
    for (let i = 0; i < this.#queue.length && picked.length < room;) {
      if (this.#queue[i].alone) {
        i++;
        continue;
      }
      picked.push(...this.#queue.splice(i, 1));
    }
    return picked;
  }

  #startWave(jobs: Job[]): void {
    this.#metrics?.queueDepth.set(this.#queue.length);
    const now = performance.now();
    for (const job of jobs) {
      job.state = "running";
      this.#metrics?.queueSeconds.observe((now - job.enqueuedAt) / 1000);
    }
    const rows: RowOptions[] = jobs.map((j) => ({
      ...j.req.options,
      prefix: j.req.prefix,
      signal: j.controller.signal,
    }));
    let streams: RowStream[];
    try {
      streams = this.#engine.generateBatch(rows);
    } catch (e) {
      if (jobs.length > 1) {
        // One bad row must not fail the others: retry each row in a wave of
        // its own, at the front of the queue, so the bad one fails alone.
        for (const job of jobs) {
          job.state = "queued";
          job.alone = true;
        }
        this.#queue.unshift(...jobs);
        this.#metrics?.queueDepth.set(this.#queue.length);
        queueMicrotask(() => this.#pump());
        return;
      }
      this.#finish(jobs[0], undefined, e);
      queueMicrotask(() => this.#pump());
      return;
    }
    this.#running++;
    this.#activeRows += jobs.length;
    this.#metrics?.activeRows.set(this.#activeRows);
    this.#metrics?.batches.inc();
    this.#metrics?.batchSize.observe(jobs.length);
    this.#metrics?.tasksPerBatch.observe(new Set(jobs.map((j) => j.req.task)).size);
    let left = jobs.length;
    jobs.forEach((job, i) => {
      this.#drain(job, streams[i]).finally(() => {
        this.#activeRows--;
        this.#metrics?.activeRows.set(this.#activeRows);
        if (--left === 0) {
          this.#running--;
          this.#lastWaveEnd = performance.now();
        }
        this.#pump();
      });
    });
  }

  /** Forward one row's tokens to its channel and settle its result. */
  async #drain(job: Job, stream: RowStream): Promise<void> {
    stream.result.catch(() => {}); // settled below; never an unhandled rejection
    const timeoutError = () =>
      new PrefixEdgeError(
        "TIMEOUT",
        `Cannot finish the request: it ran longer than ${this.requestTimeoutMs} ms`,
      );
    try {
      let first = true;
      for await (const token of stream) {
        if (first) {
          first = false;
          this.#metrics?.firstTokenSeconds.observe((performance.now() - job.enqueuedAt) / 1000);
        }
        job.tokens.push(token);
      }
      const result = await stream.result;
      if (job.timedOut) this.#finish(job, undefined, timeoutError());
      else this.#finish(job, result);
    } catch (e) {
      this.#finish(job, undefined, job.timedOut ? timeoutError() : e);
    }
  }
}
