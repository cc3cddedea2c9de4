/**
 * Evaluation and reporting: the E2E and GLUE metrics, classification with a
 * decoder by verbalizer likelihood, and SVG charts.
 *
 * @module
 */
export {
  type LineChartOptions,
  lineChartSvg,
  MARKER_MAX_POINTS,
  niceTicks,
  type PlotSeries,
} from "./svg_plot.ts";
export { gatesChartSvg, lossChartSvg, metricChartSvg } from "./training_charts.ts";
export { e2eMetrics, type E2eScores, parseReferenceGroups } from "./e2e_metrics.ts";
export {
  accuracy,
  averageRanks,
  f1Positive,
  glueMetrics,
  type GlueMetricTask,
  type GlueScores,
  matthewsCorrelation,
  pearson,
  spearman,
} from "./glue_metrics.ts";
export {
  argmax,
  type ContinuationRow,
  scoreContinuations,
  type ScoreContinuationsOptions,
} from "./score_continuations.ts";
export {
  checkSlots,
  parseRecord,
  parseSlotValues,
  slotMetrics,
  type SlotScores,
  type SlotValues,
} from "./slot_metrics.ts";
