/**
 * The plots a finished run writes beside its metrics: loss (train and dev) and, with a gate,
 * the gate of every prefix token from step 0.
 *
 * @module
 */
import { join } from "node:path";
import { gatesChartSvg, lossChartSvg } from "../../eval/mod.ts";
import type { EvalRecord, MetricsRecord, TrainRecord } from "./metrics_log.ts";
import type { TrainOptions } from "./train_options.ts";

/**
 * Write `loss.svg` and (with a gate) `gates.svg` from the whole metrics history.
 *
 * @returns the files written (`gatesPlot` null without a gate)
 */
export async function writeRunPlots(
  outDir: string,
  taskName: string,
  options: TrainOptions,
  records: readonly MetricsRecord[],
  initialGates: number[] | null,
): Promise<{ lossPlot: string; gatesPlot: string | null }> {
  const trainRecs = records.filter((r): r is TrainRecord => r.type === "train");
  const evalRecs = records.filter((r): r is EvalRecord => r.type === "eval");
  const lossPlot = join(outDir, "loss.svg");
  await Deno.writeTextFile(
    lossPlot,
    lossChartSvg(
      trainRecs.filter((r) => r.loss !== null).map((r) => [r.step, r.loss!] as const),
      evalRecs.map((r) => [r.step, r.devLoss] as const),
      `Loss: ${taskName} (P=${options.prefixLen}, ${options.reparam}${
        options.gate ? " + gate" : ""
      })`,
    ),
  );
  if (!options.gate) return { lossPlot, gatesPlot: null };
  const gatesPlot = join(outDir, "gates.svg");
  // Start at the initial gates (step 0), not at the first log step.
  const samples = trainRecs.map((r) => ({ step: r.step, gates: r.gates }));
  if (initialGates && !(samples[0]?.step === 0)) samples.unshift({ step: 0, gates: initialGates });
  await Deno.writeTextFile(
    gatesPlot,
    gatesChartSvg(
      samples.map((r) => r.step),
      samples.map((r) => r.gates),
      `Gate per prefix token: ${taskName}`,
    ),
  );
  return { lossPlot, gatesPlot };
}
