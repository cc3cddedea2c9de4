/**
 * The scheduler's public types: its settings, a request, a scheduled row and a snapshot.
 *
 * @module
 */
import type { Prefix } from "../model/mod.ts";
import type { RowOptions, RowResult, RowToken } from "./engine_port.ts";
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
