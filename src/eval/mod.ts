/** Evaluation and reporting: SVG charts of training runs. @module */
export {
  type LineChartOptions,
  lineChartSvg,
  MARKER_MAX_POINTS,
  niceTicks,
  type PlotSeries,
} from "./svg_plot.ts";
export { gatesChartSvg, lossChartSvg } from "./training_charts.ts";
