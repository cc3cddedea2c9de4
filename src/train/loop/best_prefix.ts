/**
 * Judging a run by what it generates: the dev metric a run is scored with, the rule that picks
 * its best evaluated prefix, early stopping, and the checks that say a run failed.
 *
 * The best prefix is the one with the highest dev metric; ties go to the lower dev loss. A run
 * without a metric (no ONNX export to generate with) falls back to the dev loss alone, and a
 * run without dev data keeps its last prefix. The untrained prefix at step 0 is a candidate
 * too, so a run that only got worse leaves a bundle no worse than where it started.
 *
 * @module
 */
import type { Prefix } from "../../model/mod.ts";

/**
 * Scores a folded prefix on held-out data by what it generates (`train`'s `hooks.devMetric`).
 * `study`'s `generationDevMetric` is the one `deno task train` uses: greedy, batched
 * generation scored with the task's metric.
 */
export interface DevMetric {
  /** The score that ranks prefixes, higher is better: a key of what `evaluate` returns. */
  readonly name: string;
  /**
   * Score a prefix; `null` scores the base model alone.
   *
   * @returns scores by name, `name` among them
   */
  evaluate(prefix: Prefix | null): Promise<Record<string, number>>;
  /** Generated examples of the last `evaluate`, for logs (optional). */
  readonly lastSamples?: readonly { input: string; output: string }[];
}

/** One evaluated point of a run. */
export interface Candidate {
  /** Optimizer steps done. */
  step: number;
  /** The dev metric, or null without one. */
  metric: number | null;
  /** The dev loss, or null without dev data. */
  devLoss: number | null;
}

/**
 * Whether `a` is a better prefix than `b`: a higher metric, then a lower dev loss. Without
 * either, a later step is better (the last prefix is kept).
 *
 * @param a a candidate
 * @param b the best so far, or null
 * @returns true when `a` should replace `b`
 *
 * @example Ties on the metric go to the lower dev loss
 * ```ts
 * import { strictEqual } from "node:assert";
 * import { isBetterCandidate } from "./best_prefix.ts";
 * const best = { step: 100, metric: 1, devLoss: 0.3 };
 * strictEqual(isBetterCandidate({ step: 200, metric: 1, devLoss: 0.2 }, best), true);
 * strictEqual(isBetterCandidate({ step: 200, metric: 0.9, devLoss: 0.1 }, best), false);
 * ```
 */
export function isBetterCandidate(a: Candidate, b: Candidate | null): boolean {
  if (b === null) return true;
  if (a.metric !== null && b.metric !== null && a.metric !== b.metric) return a.metric > b.metric;
  if (a.devLoss !== null && b.devLoss !== null && a.devLoss !== b.devLoss) {
    return a.devLoss < b.devLoss;
  }
  if (a.metric === null && a.devLoss === null) return a.step > b.step;
  return false;
}

/** The best prefix so far: its point, its scores and a copy of its parameters. */
export interface BestPrefix extends Candidate {
  /** Every dev score at that point. */
  scores: Record<string, number> | null;
  /** The prefix module's parameters at that point (copies). */
  params: Record<string, Float32Array>;
}

/** What a finished run says about itself. */
export interface RunVerdict {
  /** False when a check below failed: the caller should say so and exit non-zero. */
  ok: boolean;
  /** One sentence per failed check. */
  problems: string[];
}

/**
 * The checks a finished run must pass: its dev loss did not end above where it started, and
 * its best prefix beats the base model on the dev metric.
 *
 * @param facts the run's dev loss at start and end, the metric's name, the base model's and
 *   the best prefix's scores
 * @returns the verdict
 *
 * @example A run that diverged
 * ```ts
 * import { deepStrictEqual } from "node:assert";
 * import { judgeRun } from "./best_prefix.ts";
 * const v = judgeRun({
 *   initialDevLoss: 1.8, finalDevLoss: 3.5, metric: "exact", baseMetric: 0, bestMetric: 0,
 * });
 * deepStrictEqual(v.problems, [
 *   "the dev loss rose from 1.8000 to 3.5000",
 *   "no prefix beat the base model's exact (0.0000)",
 * ]);
 * ```
 */
export function judgeRun(facts: {
  initialDevLoss: number | null;
  finalDevLoss: number | null;
  metric: string | null;
  baseMetric: number | null;
  bestMetric: number | null;
}): RunVerdict {
  const problems: string[] = [];
  const { initialDevLoss: d0, finalDevLoss: d1, baseMetric: m0, bestMetric: m1 } = facts;
  if (d0 !== null && d1 !== null && !(d1 <= d0)) {
    problems.push(`the dev loss rose from ${d0.toFixed(4)} to ${d1.toFixed(4)}`);
  }
  if (facts.metric !== null && m0 !== null && m1 !== null && !(m1 > m0)) {
    problems.push(`no prefix beat the base model's ${facts.metric} (${m0.toFixed(4)})`);
  }
  return { ok: problems.length === 0, problems };
}
