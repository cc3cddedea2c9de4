/**
 * The scheduler: one base model, many tasks. Requests that arrive within a
 * short window are batched ACROSS tasks; each row carries its own prefix and
 * the engine runs one forward per step over all rows.
 *
 * Two policies, chosen once from the engine by {@link createScheduler}; what they share (the
 * bounded queue, timeouts, cancellation, shutdown) is _job_queue.ts:
 *
 * - **Joining** (join_scheduler.ts; the engine has `openBatch()` and its batch is `joinable`:
 *   the real engine on wasm and native). One engine batch runs; a request
 *   that arrives while it decodes is added to it at once, up to `maxBatch`
 *   rows, and joins at a coming step boundary (the engine's join policy
 *   waits a few steps for company, so one prefill serves several rows). Only an idle batch waits out
 *   the batching window, so the first rows of a burst still share one
 *   prefill. `maxConcurrentBatches` is not used: there is one batch.
 * - **Waves** (wave_scheduler.ts; any other engine, e.g. WebGPU with the cache on the GPU):
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
import { Scheduler } from "./_job_queue.ts";
import type { ServeEngine } from "./engine_port.ts";
import { JoinScheduler } from "./join_scheduler.ts";
import type { SchedulerOptions } from "./scheduler_types.ts";
import { WaveScheduler } from "./wave_scheduler.ts";

export { Scheduler };
export { JoinScheduler } from "./join_scheduler.ts";
export { WaveScheduler } from "./wave_scheduler.ts";
export type {
  ScheduledRow,
  ScheduleRequest,
  SchedulerOptions,
  SchedulerStats,
} from "./scheduler_types.ts";

/**
 * A scheduler over one engine, with the policy the engine allows: joining where its
 * `openBatch()` batch is `joinable` (unless `joinRunningBatch: false`), else waves.
 *
 * @param engine the inference engine (or any `ServeEngine`)
 * @param options batching, queue and timeout settings
 * @returns the scheduler
 * @throws {PrefixEdgeError} `INVALID_INPUT` for a setting out of range
 *
 * @example Schedule two tasks into one batch
 * ```ts
 * import { strictEqual } from "node:assert";
 * import { InferenceEngine } from "../infer/mod.ts";
 * import { loadModel } from "../model/mod.ts";
 * import { createScheduler } from "./scheduler.ts";
 * const engine = await InferenceEngine.create(await loadModel("models/stories260K"), {
 *   executionProvider: "wasm",
 * });
 * const scheduler = createScheduler(engine, { maxBatch: 8, batchWindowMs: 5 });
 * const a = scheduler.submit({ task: "a", prefix: null, options: { prompt: "Hi", maxNewTokens: 4 } });
 * const b = scheduler.submit({ task: "b", prefix: null, options: { prompt: "Yo", maxNewTokens: 4 } });
 * strictEqual((await a.result).tokenIds.length + (await b.result).tokenIds.length, 8);
 * strictEqual(scheduler.stats().activeRows, 0);
 * scheduler.close();
 * await engine.dispose();
 * ```
 */
export function createScheduler(engine: ServeEngine, options: SchedulerOptions = {}): Scheduler {
  // Feature-detect joining: an engine without openBatch, or whose batch cannot merge rows
  // (cache on the GPU), is batched per wave.
  const batch = options.joinRunningBatch !== false && typeof engine.openBatch === "function"
    ? engine.openBatch()
    : undefined;
  return batch?.joinable
    ? new JoinScheduler(engine, batch, options)
    : new WaveScheduler(engine, options);
}
