/**
 * The plots a finished run writes beside its metrics: loss (train and dev), the dev metric
 * against the base model's when the run had one, and, with a gate, the gate of every prefix
 * token from step 0.
 *
 * @module
 */
import { gatesChartSvg, lossChartSvg, metricChartSvg } from "../../eval/mod.ts";
import type { EvalRecord, MetricsRecord, TrainRecord } from "./metrics_log.ts";
import type { RunFiles } from "./run_files.ts";
import type { TrainOptions } from "./train_options.ts";

/**
 * Write `loss.svg` and (with a gate) `gates.svg` from the whole metrics history.
 *
 * @returns the files written (`gatesPlot` null without a gate, `metricPlot` null without a
 *   dev metric)
 */
export async function writeRunPlots(
  run: RunFiles,
  taskName: string,
  options: TrainOptions,
  records: readonly MetricsRecord[],
  initialGates: number[] | null,
  metric: string | null = null,
): Promise<{ lossPlot: string; gatesPlot: string | null; metricPlot: string | null }> {
  const trainRecs = records.filter((r): r is TrainRecord => r.type === "train");
  const evalRecs = records.filter((r): r is EvalRecord => r.type === "eval");
  const lossPlot = run.pathOf("loss.svg");
  await run.write(
    "loss.svg",
    lossChartSvg(
      trainRecs.filter((r) => r.loss !== null).map((r) => [r.step, r.loss!] as const),
      // A run scored only by its dev metric has no dev loss on its eval lines.
      evalRecs.filter((r) => Number.isFinite(r.devLoss)).map((r) => [r.step, r.devLoss] as const),
      `Loss: ${taskName} (P=${options.prefixLen}, ${options.reparam}${
        options.gate ? " + gate" : ""
      })`,
    ),
  );
  let metricPlot: string | null = null;
  const scored = evalRecs.filter((r) => metric !== null && r.scores?.[metric] !== undefined);
  if (metric !== null && scored.length > 0) {
    metricPlot = run.pathOf("metric.svg");
    const base = evalRecs.find((r) => r.baseScores?.[metric] !== undefined)?.baseScores?.[metric];
    await run.write(
      "metric.svg",
      metricChartSvg(
        metric,
        scored.map((r) => [r.step, r.scores![metric]] as const),
        base ?? null,
        `Dev ${metric}: ${taskName}`,
      ),
    );
  }
  if (!options.gate) return { lossPlot, gatesPlot: null, metricPlot };
  const gatesPlot = run.pathOf("gates.svg");
  // Start at the initial gates (step 0), not at the first log step.
  const samples = trainRecs.map((r) => ({ step: r.step, gates: r.gates }));
  if (initialGates && !(samples[0]?.step === 0)) samples.unshift({ step: 0, gates: initialGates });
  await run.write(
    "gates.svg",
    gatesChartSvg(
      samples.map((r) => r.step),
      samples.map((r) => r.gates),
      `Gate per prefix token: ${taskName}`,
    ),
  );
  return { lossPlot, gatesPlot, metricPlot };
}
