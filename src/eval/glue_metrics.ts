/**
 * The GLUE metrics (Wang et al. 2019), defined as scikit-learn and SciPy
 * define them, which is what the GLUE leaderboard and Hugging Face's `glue`
 * metric call:
 *
 * | task | metrics |
 * | --- | --- |
 * | sst2, rte, qnli | accuracy |
 * | mrpc | accuracy, F1 of the positive class |
 * | cola | Matthews correlation (`sklearn.metrics.matthews_corrcoef`: 0 when its denominator is 0) |
 * | stsb | Pearson and Spearman (`scipy.stats`; Spearman ranks ties by their average rank) |
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";

/** The GLUE tasks these metrics know. */
export type GlueMetricTask = "sst2" | "cola" | "mrpc" | "rte" | "qnli" | "stsb";

/** Scores of one GLUE task; which fields are set depends on the task. */
export interface GlueScores {
  /** Fraction of exact matches (classification tasks). */
  accuracy?: number;
  /** F1 of the positive class (mrpc). */
  f1?: number;
  /** Matthews correlation coefficient (cola). */
  mcc?: number;
  /** Pearson correlation (stsb). */
  pearson?: number;
  /** Spearman rank correlation (stsb). */
  spearman?: number;
}

function check(predictions: ArrayLike<unknown>, labels: ArrayLike<unknown>, what: string): void {
  if (predictions.length !== labels.length) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      `Cannot compute ${what}: ${predictions.length} predictions but ${labels.length} labels`,
    );
  }
  if (labels.length === 0) {
    throw new PrefixEdgeError("INVALID_INPUT", `Cannot compute ${what}: there are no labels`);
  }
}

/**
 * Fraction of predictions equal to their label.
 *
 * @param predictions predicted labels
 * @param labels gold labels
 * @returns accuracy in [0, 1]
 * @throws {PrefixEdgeError} `INVALID_INPUT` on empty or unequal lists
 *
 * @example Three of four right
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { accuracy } from "./glue_metrics.ts";
 * assertEquals(accuracy([1, 0, 1, 1], [1, 0, 0, 1]), 0.75);
 * ```
 */
export function accuracy(
  predictions: ArrayLike<number | string>,
  labels: ArrayLike<number | string>,
): number {
  check(predictions, labels, "accuracy");
  let hits = 0;
  for (let i = 0; i < labels.length; i++) if (predictions[i] === labels[i]) hits++;
  return hits / labels.length;
}

function confusion(predictions: ArrayLike<number>, labels: ArrayLike<number>) {
  let tp = 0, tn = 0, fp = 0, fn = 0;
  for (let i = 0; i < labels.length; i++) {
    const p = predictions[i] === 1, y = labels[i] === 1;
    if (p && y) tp++;
    else if (p) fp++;
    else if (y) fn++;
    else tn++;
  }
  return { tp, tn, fp, fn };
}

/**
 * F1 of the positive class (label 1), as `sklearn.metrics.f1_score` with
 * `zero_division=0`: 0 when there are no true positives.
 *
 * @param predictions predicted labels (0/1)
 * @param labels gold labels (0/1)
 * @returns F1 in [0, 1]
 * @throws {PrefixEdgeError} `INVALID_INPUT` on empty or unequal lists
 *
 * @example One hit, one false alarm, one miss
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { f1Positive } from "./glue_metrics.ts";
 * assertEquals(f1Positive([1, 1, 0, 0], [1, 0, 1, 0]), 0.5);
 * ```
 */
export function f1Positive(predictions: ArrayLike<number>, labels: ArrayLike<number>): number {
  check(predictions, labels, "F1");
  const { tp, fp, fn } = confusion(predictions, labels);
  return tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn);
}

/**
 * Matthews correlation of binary labels; 0 when its denominator is 0 (all
 * predictions or all labels one class), as scikit-learn returns.
 *
 * @param predictions predicted labels (0/1)
 * @param labels gold labels (0/1)
 * @returns MCC in [-1, 1]
 * @throws {PrefixEdgeError} `INVALID_INPUT` on empty or unequal lists
 *
 * @example No better than chance
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { matthewsCorrelation } from "./glue_metrics.ts";
 * assertEquals(matthewsCorrelation([1, 0, 1, 0], [1, 0, 0, 1]), 0);
 * ```
 */
export function matthewsCorrelation(
  predictions: ArrayLike<number>,
  labels: ArrayLike<number>,
): number {
  check(predictions, labels, "the Matthews correlation");
  const { tp, tn, fp, fn } = confusion(predictions, labels);
  const den = Math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn));
  return den === 0 ? 0 : (tp * tn - fp * fn) / den;
}

/**
 * Pearson correlation; NaN when either side is constant (as SciPy).
 *
 * @param x first sample
 * @param y second sample
 * @returns r in [-1, 1], or NaN
 * @throws {PrefixEdgeError} `INVALID_INPUT` on empty or unequal lists
 *
 * @example A perfect linear relation
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { pearson } from "./glue_metrics.ts";
 * assertEquals(pearson([1, 2, 3], [2, 4, 6]), 1);
 * ```
 */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  check(x, y, "the Pearson correlation");
  const n = x.length;
  let mx = 0, my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i];
    my += y[i];
  }
  mx /= n;
  my /= n;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
    syy += (y[i] - my) ** 2;
  }
  const den = Math.sqrt(sxx * syy);
  return den === 0 ? NaN : Math.max(-1, Math.min(1, sxy / den));
}

/**
 * 1-based ranks, ties given their average rank (`scipy.stats.rankdata`).
 *
 * @param x values
 * @returns ranks
 *
 * @example Ties share their average rank
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { averageRanks } from "./glue_metrics.ts";
 * assertEquals(averageRanks([10, 20, 20, 30]), [1, 2.5, 2.5, 4]);
 * ```
 */
export function averageRanks(x: ArrayLike<number>): number[] {
  const order = Array.from({ length: x.length }, (_, i) => i).sort((a, b) => x[a] - x[b]);
  const ranks = new Array<number>(x.length);
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && x[order[j + 1]] === x[order[i]]) j++;
    const r = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[order[k]] = r;
    i = j + 1;
  }
  return ranks;
}

/**
 * Spearman rank correlation: Pearson of the average ranks.
 *
 * @param x first sample
 * @param y second sample
 * @returns rho in [-1, 1], or NaN when one side is constant
 * @throws {PrefixEdgeError} `INVALID_INPUT` on empty or unequal lists
 *
 * @example A monotone relation
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { spearman } from "./glue_metrics.ts";
 * assertEquals(spearman([1, 2, 3], [1, 4, 9]), 1);
 * ```
 */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  check(x, y, "the Spearman correlation");
  return pearson(averageRanks(x), averageRanks(y));
}

/**
 * The GLUE metrics of one task.
 *
 * @param task the GLUE task
 * @param predictions predicted labels (0/1 for classification; scores for stsb)
 * @param labels gold labels, the same way
 * @returns `{ accuracy }` for sst2/rte/qnli, plus `f1` for mrpc, plus `mcc`
 *   for cola, and `{ pearson, spearman }` for stsb
 * @throws {PrefixEdgeError} `INVALID_INPUT` on an unknown task, empty or unequal lists
 *
 * @example MRPC
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { glueMetrics } from "./glue_metrics.ts";
 * assertEquals(glueMetrics("mrpc", [1, 1, 0, 0], [1, 0, 1, 0]), { accuracy: 0.5, f1: 0.5 });
 * ```
 *
 * @example STS-B
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { glueMetrics } from "./glue_metrics.ts";
 * const { pearson, spearman } = glueMetrics("stsb", [0.5, 2.1, 4.8], [1.0, 2.0, 5.0]);
 * assertEquals([pearson > 0.9, spearman], [true, 1]);
 * ```
 */
export function glueMetrics(
  task: Exclude<GlueMetricTask, "stsb">,
  predictions: ArrayLike<number>,
  labels: ArrayLike<number>,
): GlueScores & { accuracy: number };
export function glueMetrics(
  task: "stsb",
  predictions: ArrayLike<number>,
  labels: ArrayLike<number>,
): GlueScores & { pearson: number; spearman: number };
export function glueMetrics(
  task: GlueMetricTask,
  predictions: ArrayLike<number>,
  labels: ArrayLike<number>,
): GlueScores;
export function glueMetrics(
  task: GlueMetricTask,
  predictions: ArrayLike<number>,
  labels: ArrayLike<number>,
): GlueScores {
  switch (task) {
    case "sst2":
    case "rte":
    case "qnli":
      return { accuracy: accuracy(predictions, labels) };
    case "mrpc":
      return { accuracy: accuracy(predictions, labels), f1: f1Positive(predictions, labels) };
    case "cola":
      return {
        accuracy: accuracy(predictions, labels),
        mcc: matthewsCorrelation(predictions, labels),
      };
    case "stsb":
      return { pearson: pearson(predictions, labels), spearman: spearman(predictions, labels) };
    default:
      throw new PrefixEdgeError(
        "INVALID_INPUT",
        `Cannot compute GLUE metrics: unknown task ${
          JSON.stringify(task)
        } (expected sst2, cola, mrpc, rte, qnli or stsb)`,
      );
  }
}
