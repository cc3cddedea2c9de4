/**
 * What both scheduling policies share: the bounded queue, each request's timers and abort, the
 * batching window, cancellation, shutdown, and draining a row's tokens to its caller. A policy
 * (join_scheduler.ts, wave_scheduler.ts) decides only when queued jobs start and on which engine
 * call; see scheduler.ts for the two.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import { Channel } from "./_channel.ts";
import type { RowResult, RowStream, RowToken, ServeEngine } from "./engine_port.ts";
import type {
  ScheduledRow,
  ScheduleRequest,
  SchedulerOptions,
  SchedulerStats,
} from "./scheduler_types.ts";
import type { ServerMetrics } from "./server_metrics.ts";

/** A queued or running request. */
export interface Job {
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
 * Batches requests across tasks onto one engine; a policy subclass starts the queued jobs.
 * Build one with `createScheduler` (scheduler.ts), which picks the policy the engine allows.
 */
export abstract class Scheduler {
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
  /** Engine batches that may run at once (waves only). */
  readonly maxConcurrentBatches: number;
  /** Whether requests join the running engine batch (see scheduler.ts). */
  abstract readonly joining: boolean;
  protected readonly engine: ServeEngine;
  protected readonly metrics?: ServerMetrics;
  protected queue: Job[] = [];
  protected activeRows = 0;
  protected closed = false;
  /** When the last batch ended (performance.now()); the next window starts no earlier. */
  protected lastBatchEnd = -Infinity;
  #windowTimer: ReturnType<typeof setTimeout> | undefined;

  /**
   * @param engine the inference engine (or any `ServeEngine`)
   * @param options batching, queue and timeout settings
   * @throws {PrefixEdgeError} `INVALID_INPUT` for a setting out of range
   */
  constructor(engine: ServeEngine, options: SchedulerOptions = {}) {
    this.engine = engine;
    this.metrics = options.metrics;
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
  }

  /** Whether a job could start now (a free slot; the policy's rule). */
  protected abstract canStart(): boolean;
  /** Start what the policy allows from the queue. */
  protected abstract pump(): void;
  /** Engine batches running now. */
  protected abstract runningBatches(): number;
  /** Requests added to a batch that was already decoding (cumulative). */
  protected joinedRows(): number {
    return 0;
  }

  /**
   * A snapshot of the scheduler's state.
   *
   * @returns queue depth, active rows and running batches
   */
  stats(): SchedulerStats {
    return {
      queued: this.queue.length,
      activeRows: this.activeRows,
      runningBatches: this.runningBatches(),
      joining: this.joining,
      joinedRows: this.joinedRows(),
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
    if (this.closed) {
      throw new PrefixEdgeError(
        "BACKEND_UNAVAILABLE",
        "Cannot queue the request: the server is shutting down",
      );
    }
    if (req.signal?.aborted) {
      throw new PrefixEdgeError("CANCELLED", "Cannot queue the request: the client has gone");
    }
    // A request that can start now (free slot, nothing ahead of it) never counts as queued.
    if (this.queue.length >= this.maxQueue && !(this.queue.length === 0 && this.canStart())) {
      this.metrics?.rejected.inc({ reason: "queue_full" });
      throw new PrefixEdgeError(
        "QUEUE_FULL",
        `Cannot queue the request: ${this.queue.length} requests already wait (limit ${this.maxQueue})`,
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
    this.queue.push(job);
    this.metrics?.queueDepth.set(this.queue.length);
    this.pump();
    return { tokens: job.tokens, result };
  }

  /**
   * Stop accepting requests, fail those still queued and cancel running rows.
   */
  close(): void {
    this.closed = true;
    clearTimeout(this.#windowTimer);
    for (const job of [...this.queue]) {
      this.finish(
        job,
        undefined,
        new PrefixEdgeError("CANCELLED", "Cannot run the request: the server is shutting down"),
      );
    }
    this.queue = [];
    this.metrics?.queueDepth.set(0);
  }

  #cancel(job: Job, why: "client" | "timeout" | "queue_timeout"): void {
    if (job.state === "done") return;
    if (job.state === "queued") {
      this.queue.splice(this.queue.indexOf(job), 1);
      this.metrics?.queueDepth.set(this.queue.length);
      if (why === "client") this.metrics?.cancelled.inc({ reason: "client" });
      else this.metrics?.rejected.inc({ reason: "queue_timeout" });
      this.finish(
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
    this.metrics?.cancelled.inc({ reason: why === "client" ? "client" : "timeout" });
    job.controller.abort(
      new PrefixEdgeError(
        why === "client" ? "CANCELLED" : "TIMEOUT",
        why === "client"
          ? "Cannot finish the request: the client has gone"
          : `Cannot finish the request: it ran longer than ${this.requestTimeoutMs} ms`,
      ),
    );
  }

  /** Settle a job once: its result, or its error. */
  protected finish(job: Job, result: RowResult | undefined, error?: unknown): void {
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

  /**
   * Whether the oldest queued job should wait longer for others to batch with: the
   * queue holds fewer than `room` jobs and the batching window has not passed. Arms
   * the timer that pumps again when it does. The window starts no earlier than the
   * end of the last wave: an engine whose steps never yield to the event loop leaves
   * requests that arrived during the wave unread on their sockets, and this gives
   * them time to queue.
   */
  protected waitForCompany(room: number): boolean {
    const waited = performance.now() - Math.max(this.queue[0].enqueuedAt, this.lastBatchEnd);
    if (this.queue.length >= room || waited >= this.batchWindowMs) return false;
    if (this.#windowTimer === undefined) {
      this.#windowTimer = setTimeout(() => {
        this.#windowTimer = undefined;
        this.pump();
      }, this.batchWindowMs - waited);
    }
    return true;
  }

  /** Mark jobs as started: out of the queue's count, their wait observed. */
  protected markRunning(jobs: readonly Job[]): void {
    this.metrics?.queueDepth.set(this.queue.length);
    const now = performance.now();
    for (const job of jobs) {
      job.state = "running";
      this.metrics?.queueSeconds.observe((now - job.enqueuedAt) / 1000);
    }
  }

  /** Count one engine batch of these jobs (size and tasks). */
  protected observeBatch(jobs: Iterable<Job>): void {
    const list = [...jobs];
    this.metrics?.batches.inc();
    this.metrics?.batchSize.observe(list.length);
    this.metrics?.tasksPerBatch.observe(new Set(list.map((j) => j.req.task)).size);
  }

  /** Forward one row's tokens to its channel and settle its result. */
  protected async drain(job: Job, stream: RowStream): Promise<void> {
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
          this.metrics?.firstTokenSeconds.observe((performance.now() - job.enqueuedAt) / 1000);
        }
        job.tokens.push(token);
      }
      const result = await stream.result;
      if (job.timedOut) this.finish(job, undefined, timeoutError());
      else this.finish(job, result);
    } catch (e) {
      this.finish(job, undefined, job.timedOut ? timeoutError() : e);
    }
  }
}
