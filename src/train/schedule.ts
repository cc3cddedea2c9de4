/**
 * The learning-rate schedule: linear warmup, then linear decay to 0, with the
 * same values as Hugging Face's `get_linear_schedule_with_warmup` (which Li &
 * Liang's training uses).
 *
 * @module
 */

/** Options of {@link linearWarmupDecay}. */
export interface LinearScheduleOptions {
  /** Peak learning rate. */
  lr: number;
  /** Optimizer steps of linear warmup from 0 (0 = start at `lr`). */
  warmupSteps: number;
  /** Total optimizer steps of the run. */
  totalSteps: number;
}

/**
 * The learning rate of optimizer step `step` (0-based).
 *
 * `lr * step / warmup` while `step < warmup`, then
 * `lr * (total - step) / (total - warmup)`, never below 0. As in Hugging Face,
 * the first step of a warmup has rate 0.
 *
 * @param step 0-based optimizer step
 * @param options peak rate, warmup and total steps
 * @returns the rate for that step
 *
 * @example Rates of a 10-step run with 2 warmup steps
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { linearWarmupDecay } from "./schedule.ts";
 * const o = { lr: 1, warmupSteps: 2, totalSteps: 10 };
 * assertEquals([0, 1, 2, 6, 9].map((s) => linearWarmupDecay(s, o)), [0, 0.5, 1, 0.5, 0.125]);
 * ```
 */
export function linearWarmupDecay(step: number, options: LinearScheduleOptions): number {
  const { lr, warmupSteps, totalSteps } = options;
  if (step < warmupSteps) return lr * step / Math.max(1, warmupSteps);
  return lr * Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmupSteps));
}
