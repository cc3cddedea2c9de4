import {
  accuracy,
  averageRanks,
  f1Positive,
  glueMetrics,
  matthewsCorrelation,
  pearson,
  spearman,
} from "../../src/eval/mod.ts";
import type { PrefixEdgeError } from "../../src/errors/mod.ts";
import { assert, assertAlmostEquals, assertEquals, assertThrows } from "../_assert.ts";

Deno.test("accuracy, F1 and MCC on a confusion matrix worked by hand", () => {
  // labels:      1 1 1 1 0 0 0 0 0 0
  // predictions: 1 1 1 0 1 1 0 0 0 0  -> tp 3, fn 1, fp 2, tn 4
  const y = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0];
  const p = [1, 1, 1, 0, 1, 1, 0, 0, 0, 0];
  assertAlmostEquals(accuracy(p, y), 0.7, 1e-15);
  assertAlmostEquals(f1Positive(p, y), 6 / 9, 1e-15); // 2tp / (2tp + fp + fn)
  assertAlmostEquals(matthewsCorrelation(p, y), (3 * 4 - 2 * 1) / Math.sqrt(5 * 4 * 6 * 5), 1e-15);
  assertEquals(glueMetrics("mrpc", p, y), { accuracy: 0.7, f1: f1Positive(p, y) });
  assertEquals(glueMetrics("sst2", p, y), { accuracy: 0.7 });
  assertEquals(Object.keys(glueMetrics("cola", p, y)).sort(), ["accuracy", "mcc"]);
});

Deno.test("degenerate cases: one class everywhere, an MCC denominator of zero", () => {
  const ones = [1, 1, 1, 1];
  assertEquals(accuracy(ones, ones), 1);
  assertEquals(f1Positive(ones, ones), 1);
  // All predictions one class: (tp+fp)(tn+fn)... has a zero factor -> MCC 0, as scikit-learn.
  assertEquals(matthewsCorrelation(ones, [1, 0, 1, 0]), 0);
  assertEquals(matthewsCorrelation(ones, ones), 0);
  assertEquals(glueMetrics("cola", [0, 0, 0], [1, 0, 1]).mcc, 0);
  // No positive predicted or present: F1 is 0 (zero_division=0).
  assertEquals(f1Positive([0, 0], [0, 0]), 0);
  // Perfect and inverted predictions.
  assertEquals(matthewsCorrelation([1, 0, 1, 0], [1, 0, 1, 0]), 1);
  assertEquals(matthewsCorrelation([0, 1, 0, 1], [1, 0, 1, 0]), -1);
});

Deno.test("Spearman uses average ranks for ties", () => {
  assertEquals(averageRanks([10, 20, 20, 30]), [1, 2.5, 2.5, 4]);
  assertEquals(averageRanks([3, 1, 3, 3]), [3, 1, 3, 3]);
  // x ranks [1, 2.5, 2.5, 4], y ranks [1, 2, 3, 4]: Pearson of the ranks, by hand.
  // dx = [-1.5, 0, 0, 1.5], dy = [-1.5, -0.5, 0.5, 1.5]: sxy = 4.5, sxx = 4.5, syy = 5.
  assertAlmostEquals(spearman([10, 20, 20, 30], [1, 2, 3, 4]), 4.5 / Math.sqrt(4.5 * 5), 1e-15);
  assertAlmostEquals(spearman([1, 2, 3, 4], [1, 8, 27, 64]), 1, 1e-15);
  assertAlmostEquals(spearman([1, 2, 3], [3, 2, 1]), -1, 1e-15);
});

Deno.test("Pearson by hand, and NaN when one side is constant", () => {
  // x = [1,2,3,4], y = [2,1,4,3]: dx = [-1.5,-.5,.5,1.5], dy = [-.5,-1.5,1.5,.5]; sxy = 3, sxx = syy = 5.
  assertAlmostEquals(pearson([1, 2, 3, 4], [2, 1, 4, 3]), 0.6, 1e-15);
  assert(Number.isNaN(pearson([1, 1, 1], [1, 2, 3])));
  const s = glueMetrics("stsb", [1, 2, 3, 4], [2, 1, 4, 3]);
  assertAlmostEquals(s.pearson, 0.6, 1e-15);
  assertAlmostEquals(s.spearman, 0.6, 1e-15);
  assertEquals(s.accuracy, undefined);
});

Deno.test("glueMetrics() refuses unequal or empty lists and unknown tasks", () => {
  const code = (e: unknown) => assertEquals((e as PrefixEdgeError).code, "INVALID_INPUT");
  assertThrows(() => glueMetrics("sst2", [1], [1, 0]), code);
  assertThrows(() => glueMetrics("rte", [], []), code);
  assertThrows(() => glueMetrics("wnli" as "rte", [1], [1]), code);
});
