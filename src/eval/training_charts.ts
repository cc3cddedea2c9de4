/**
 * The two charts of a training run: loss over steps, and each prefix
 * token's gate over steps.
 *
 * @module
 */
import { lineChartSvg, type PlotSeries } from "./svg_plot.ts";

/**
 * Train and dev loss over optimizer steps.
 *
 * @param train `[step, loss]` of each train log line
 * @param dev `[step, devLoss]` of each eval line
 * @param title chart title (default "Loss")
 * @returns SVG text
 *
 * @example Plot a short run
 * ```ts
 * import { ok } from "node:assert";
 * import { lossChartSvg } from "./training_charts.ts";
 * const svg = lossChartSvg([[10, 3.1], [20, 2.8]], [[20, 2.9]]);
 * ok(svg.includes("<svg") && svg.includes(">train<") && svg.includes(">dev<"));
 * ```
 */
export function lossChartSvg(
  train: ReadonlyArray<readonly [number, number]>,
  dev: ReadonlyArray<readonly [number, number]>,
  title = "Loss",
): string {
  const series = [{ name: "train", points: train }];
  if (dev.length > 0) series.push({ name: "dev", points: dev });
  return lineChartSvg({
    title,
    xLabel: "optimizer step",
    yLabel: "mean token loss (nats)",
    series,
  });
}

/**
 * Gate weight `sigmoid(a[i])` of each prefix token over optimizer steps.
 *
 * @param steps the step of each sample, `[N]`
 * @param gates the gates at each sample, `[N][P]`
 * @param title chart title (default "Prefix gates")
 * @returns SVG text with one line per prefix token, y axis 0..1
 *
 * @example Two tokens, two samples
 * ```ts
 * import { ok } from "node:assert";
 * import { gatesChartSvg } from "./training_charts.ts";
 * const svg = gatesChartSvg([10, 20], [[0.5, 0.5], [0.52, 0.47]]);
 * ok(svg.includes("<svg") && svg.includes("Prefix gates"));
 * ```
 */
export function gatesChartSvg(
  steps: readonly number[],
  gates: ReadonlyArray<ArrayLike<number>>,
  title = "Prefix gates",
): string {
  const P = gates.length ? gates[0].length : 0;
  const series = Array.from({ length: P }, (_, i) => ({
    name: `token ${i}`,
    points: steps.map((s, k) => [s, gates[k][i]] as const),
  }));
  // Gates start at 0.5 and move slowly: fit the data, but stay inside [0, 1].
  let lo = 1, hi = 0;
  for (const g of gates) {
    for (let i = 0; i < g.length; i++) {
      lo = Math.min(lo, g[i]);
      hi = Math.max(hi, g[i]);
    }
  }
  const pad = Math.max(0.01, (hi - lo) * 0.1);
  const yRange = P ? [Math.max(0, lo - pad), Math.min(1, hi + pad)] as const : [0, 1] as const;
  return lineChartSvg({
    title,
    xLabel: "optimizer step",
    yLabel: "gate sigmoid(a)",
    series,
    yRange,
  });
}

/**
 * The dev metric over optimizer steps, with the base model's score as a dashed line: what a run
 * generates, not only its loss.
 *
 * @param metric the metric's name (the y axis)
 * @param points `[step, score]` of each evaluation
 * @param base the base model's score, or null
 * @param title chart title
 * @returns SVG text
 *
 * @example A run that learned its task
 * ```ts
 * import { ok } from "node:assert";
 * import { metricChartSvg } from "./training_charts.ts";
 * const svg = metricChartSvg("exact", [[0, 0], [100, 0.4], [200, 1]], 0);
 * ok(svg.includes("base model"));
 * ```
 */
export function metricChartSvg(
  metric: string,
  points: ReadonlyArray<readonly [number, number]>,
  base: number | null,
  title = `Dev ${metric}`,
): string {
  const series: PlotSeries[] = [{ name: `dev ${metric}`, points }];
  if (base !== null && points.length > 0) {
    const xs = points.map((p) => p[0]);
    series.push({
      name: "base model",
      points: [[Math.min(...xs), base], [Math.max(...xs), base]],
      dashed: true,
      markers: false,
    });
  }
  return lineChartSvg({ title, xLabel: "optimizer step", yLabel: metric, series });
}
