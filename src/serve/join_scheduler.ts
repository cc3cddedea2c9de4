/**
 * The joining policy: one engine batch runs, and a request that arrives while it decodes is added
 * to it at once, up to `maxBatch` rows; it joins at a coming step boundary. Only an idle batch
 * waits out the batching window, so the first rows of a burst share one prefill. For engines
 * whose `openBatch()` batch is `joinable` (the real engine on wasm and native).
 *
 * @module
 */
import { type Job, Scheduler } from "./_job_queue.ts";
import type { JoinableBatch, RowStream, ServeEngine } from "./engine_port.ts";
import type { SchedulerOptions } from "./scheduler_types.ts";

/** Rows join the running engine batch. */
export class JoinScheduler extends Scheduler {
  readonly joining = true;
  readonly #batch: JoinableBatch;
  /** Jobs running in the batch, for tasks-per-batch. */
  readonly #live = new Set<Job>();
  #joined = 0;

  /**
   * @param engine the engine
   * @param batch its joinable batch (`engine.openBatch()`)
   * @param options batching, queue and timeout settings
   */
  constructor(engine: ServeEngine, batch: JoinableBatch, options: SchedulerOptions = {}) {
    super(engine, options);
    this.#batch = batch;
  }

  protected canStart(): boolean {
    return !this.closed && this.activeRows < this.maxBatch;
  }

  protected runningBatches(): number {
    return this.activeRows > 0 ? 1 : 0;
  }

  protected override joinedRows(): number {
    return this.#joined;
  }

  /** Joining mode: add queued jobs (oldest first) to the engine batch while they fit. */
  protected pump(): void {
    const batch = this.#batch;
    if (this.closed || this.queue.length === 0) return;
    const room = this.maxBatch - this.activeRows;
    if (room < this.queue[0].cost) return;
    if (this.activeRows === 0) {
      // An idle batch waits out the window for company (unless full), so a
      // burst shares one prefill; a running batch takes rows at once.
      if (this.waitForCompany(room)) return;
    }
    // FIFO: stop at the first job that does not fit, so a wide beam row is not starved.
    const picked: Job[] = [];
    let used = 0;
    while (this.queue.length > 0 && used + this.queue[0].cost <= room) {
      const job = this.queue.shift()!;
      used += job.cost;
      picked.push(job);
    }
    this.#join(batch, picked);
  }

  /** Joining mode: hand jobs to the engine batch; a row it refuses fails alone. */
  #join(batch: JoinableBatch, jobs: Job[]): void {
    // Whether a (non-beam) engine batch is decoding: rows added now merge into it.
    const decoding = [...this.#live].some((j) => (j.req.options.numBeams ?? 1) <= 1);
    this.markRunning(jobs);
    const started: [Job, RowStream][] = [];
    for (const job of jobs) {
      try {
        started.push([
          job,
          batch.add({ ...job.req.options, prefix: job.req.prefix, signal: job.controller.signal }),
        ]);
      } catch (e) {
        this.finish(job, undefined, e);
      }
    }
    if (started.length === 0) {
      // Every row was refused: nothing will finish to pump the queue again.
      queueMicrotask(() => this.pump());
      return;
    }
    for (const [job] of started) {
      this.#live.add(job);
      this.activeRows += job.cost;
    }
    this.metrics?.activeRows.set(this.activeRows);
    // Per join: the batch as it is right after these rows joined.
    this.observeBatch(this.#live);
    if (decoding) {
      // Beam rows run as their own engine group: they never merge into a decoding batch.
      const merged = started.filter(([j]) => (j.req.options.numBeams ?? 1) <= 1).length;
      this.#joined += merged;
      if (merged > 0) this.metrics?.joins.inc({}, merged);
    }
    for (const [job, stream] of started) {
      this.drain(job, stream).finally(() => {
        this.#live.delete(job);
        this.activeRows -= job.cost;
        this.metrics?.activeRows.set(this.activeRows);
        if (this.activeRows === 0) this.lastBatchEnd = performance.now();
        this.pump();
      });
    }
  }
}
