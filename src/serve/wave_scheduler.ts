/**
 * The wave policy: `generateBatch(rows)` takes a fixed set of rows, so requests that arrive while a
 * wave runs wait (bounded queue) and form the next wave as soon as slots free up. A row that
 * finishes frees its slot at once; with `maxConcurrentBatches > 1` a freed slot starts a new wave
 * without waiting for the rest of the old one. For engines that cannot merge rows into a running
 * batch (WebGPU with the cache on the GPU), or when joining is switched off.
 *
 * @module
 */
import { type Job, Scheduler } from "./_job_queue.ts";
import type { RowOptions, RowStream } from "./engine_port.ts";

/** Rows run in waves of `generateBatch`. */
export class WaveScheduler extends Scheduler {
  readonly joining = false;
  #running = 0;

  protected canStart(): boolean {
    return !this.closed && this.#running < this.maxConcurrentBatches &&
      this.activeRows < this.maxBatch * this.maxConcurrentBatches;
  }

  protected runningBatches(): number {
    return this.#running;
  }

  /** Start as many waves as slots and the concurrency limit allow. */
  protected pump(): void {
    while (this.queue.length && this.canStart()) {
      const free = this.maxBatch * this.maxConcurrentBatches - this.activeRows;
      const room = Math.min(this.maxBatch, free);
      // Wait out the batching window unless the batch is already full.
      if (this.waitForCompany(room)) return;
      this.#startWave(this.#take(room));
    }
  }

  /** Take up to `room` jobs from the queue; a job that must run alone takes a wave to itself. */
  #take(room: number): Job[] {
    const first = this.queue[0];
    if (first.alone) return this.queue.splice(0, 1);
    const picked: Job[] = [];
    for (let i = 0; i < this.queue.length && picked.length < room;) {
      if (this.queue[i].alone) {
        i++;
        continue;
      }
      picked.push(...this.queue.splice(i, 1));
    }
    return picked;
  }

  #startWave(jobs: Job[]): void {
    this.markRunning(jobs);
    const rows: RowOptions[] = jobs.map((j) => ({
      ...j.req.options,
      prefix: j.req.prefix,
      signal: j.controller.signal,
    }));
    let streams: RowStream[];
    try {
      streams = this.engine.generateBatch(rows);
    } catch (e) {
      if (jobs.length > 1) {
        // One bad row must not fail the others: retry each row in a wave of
        // its own, at the front of the queue, so the bad one fails alone.
        for (const job of jobs) {
          job.state = "queued";
          job.alone = true;
        }
        this.queue.unshift(...jobs);
        this.metrics?.queueDepth.set(this.queue.length);
        queueMicrotask(() => this.pump());
        return;
      }
      this.finish(jobs[0], undefined, e);
      queueMicrotask(() => this.pump());
      return;
    }
    this.#running++;
    this.activeRows += jobs.length;
    this.metrics?.activeRows.set(this.activeRows);
    this.observeBatch(jobs);
    let left = jobs.length;
    jobs.forEach((job, i) => {
      this.drain(job, streams[i]).finally(() => {
        this.activeRows--;
        this.metrics?.activeRows.set(this.activeRows);
        if (--left === 0) {
          this.#running--;
          this.lastBatchEnd = performance.now();
        }
        this.pump();
      });
    });
  }
}
