/**
 * The experiment's outputs: a results table (markdown and CSV, mean ± std
 * over seeds per method x prefix length), SVG plots, and one report.md that
 * brings them together with the exact settings and command.
 *
 * @module
 */
import { join } from "pathe";
import { gatesChartSvg, lineChartSvg, type PlotSeries } from "../eval/mod.ts";
import type { ExperimentState } from "./experiment_state.ts";
import { METHOD_SETTINGS, type MethodName, METHODS } from "./experiment_grid.ts";

/** Files the report wrote (paths). */
export interface ExperimentFiles {
  /** results.md: the tables. */
  table: string;
  /** results.csv: one row per method x prefix length x metric. */
  csv: string;
  /** report.md: tables, plots, settings and command. */
  report: string;
  /** Every SVG written. */
  plots: string[];
}

/** Options of {@link writeExperimentReport}. */
export interface ReportOptions {
  /** Target dev loss for "steps to target" (default: the worst final dev loss of the grid). */
  targetDevLoss?: number;
  /** The command that ran the experiment. */
  command?: string;
}

/** Mean and sample standard deviation (0 for one value). */
export interface MeanStd {
  /** Mean. */
  mean: number;
  /** Sample standard deviation (n - 1); 0 when n = 1. */
  std: number;
  /** Values averaged. */
  n: number;
}

/**
 * Mean and sample standard deviation of the finite values.
 *
 * @param values the values
 * @returns the summary, or `null` when no value is finite
 *
 * @example Three values
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { meanStd } from "./experiment_report.ts";
 * assertEquals(meanStd([1, 2, 3]), { mean: 2, std: 1, n: 3 });
 * ```
 */
export function meanStd(values: readonly number[]): MeanStd | null {
  const v = values.filter(Number.isFinite);
  if (v.length === 0) return null;
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = v.length > 1
    ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1))
    : 0;
  return { mean, std, n: v.length };
}

/**
 * The first step at which a dev-loss curve reaches a target.
 *
 * @param curve `[step, devLoss]` in step order
 * @param target the dev loss to reach
 * @returns the step, or `null` if never reached
 *
 * @example The first dev loss at or below 4
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { stepsToTarget } from "./experiment_report.ts";
 * assertEquals(stepsToTarget([[0, 5], [10, 4], [20, 3]], 4), 10);
 * ```
 */
export function stepsToTarget(
  curve: ReadonlyArray<readonly [number, number]>,
  target: number,
): number | null {
  return curve.find(([, loss]) => loss <= target)?.[0] ?? null;
}

const fmt = (v: number) =>
  Number.isInteger(v) ? String(v) : Math.abs(v) >= 100 ? v.toFixed(1) : v.toFixed(4);
const cellText = (m: MeanStd | null) =>
  m === null ? "–" : m.n > 1 ? `${fmt(m.mean)} ± ${fmt(m.std)}` : fmt(m.mean);

/**
 * Aggregate the finished cells and write the tables, plots and report.
 * Called after every cell, so a partly run grid already has a report.
 *
 * @param outDir the experiment folder
 * @param state settings, cells and results
 * @param options target dev loss, command
 * @returns the files written
 *
 * @example Rewrite the report of an experiment folder
 * ```ts
 * import { ok } from "node:assert";
 * import { runExperiment } from "./run_experiment.ts";
 * import { writeExperimentReport } from "./experiment_report.ts";
 * const outDir = await Deno.makeTempDir();
 * const r = await runExperiment({
 *   model: "tests/fixtures/gpt2-text",
 *   train: "data/e2e-small/train.csv",
 *   dev: "data/e2e-small/dev.csv",
 *   methods: ["residual+gate"],
 *   prefixLens: [4],
 *   seeds: [1],
 *   training: { steps: 2, batchSize: 4, maxLen: 96 },
 *   evaluation: { numBeams: 1, limit: 2, maxNewTokens: 8 },
 *   outDir,
 * }, { progress: false });
 * const files = await writeExperimentReport(outDir, r, { targetDevLoss: 2.5 });
 * ok((await Deno.readTextFile(files.report)).includes("steps to reach dev loss 2.5000"));
 * await Deno.remove(outDir, { recursive: true });
 * ```
 */
export async function writeExperimentReport(
  outDir: string,
  state: ExperimentState,
  options: ReportOptions = {},
): Promise<ExperimentFiles> {
  const plotsDir = join(outDir, "plots");
  await Deno.mkdir(plotsDir, { recursive: true });
  const methods = METHODS.filter((m) => state.cells.some((c) => c.method === m));
  const lengths = [...new Set(state.cells.map((c) => c.prefixLen))].sort((a, b) => a - b);
  const done = state.cells.filter((c) => state.results[c.id]);
  const resultsOf = (m: MethodName, p: number) =>
    state.cells.filter((c) => c.method === m && c.prefixLen === p && state.results[c.id])
      .map((c) => state.results[c.id]);

  const finalDev = done.map((c) => state.results[c.id].devLoss).filter((v): v is number =>
    v !== null
  );
  const target = options.targetDevLoss ?? (finalDev.length ? Math.max(...finalDev) : null);

  // Metric name -> method -> P -> summary.
  const metricNames = [
    ...new Set([
      state.primary,
      ...Object.keys(state.baseline?.scores ?? {}),
      ...done.flatMap((c) => Object.keys(state.results[c.id].scores)),
    ]),
  ].filter(Boolean);
  const metricTarget = state.settings.devMetric?.target ?? null;
  const extra: Record<string, (r: ExperimentState["results"][string]) => number> = {
    devLoss: (r) => r.devLoss ?? NaN,
    ...(target === null ? {} : {
      stepsToTarget: (r) => stepsToTarget(r.devCurve, target) ?? NaN,
    }),
    ...(metricTarget === null ? {} : {
      reachedTarget: (r) => r.reachedTarget ? 1 : 0,
      stepsToTargetMetric: (r) =>
        r.reachedTarget ? (r.metricCurve?.find(([, v]) => v >= metricTarget)?.[0] ?? NaN) : NaN,
      secondsToTargetMetric: (r) => r.reachedTarget ? r.seconds.train : NaN,
    }),
    ...(state.settings.devMetric ? { bestStep: (r) => r.bestStep ?? NaN } : {}),
  };
  const summary = (
    pick: (r: ExperimentState["results"][string]) => number,
  ) =>
    Object.fromEntries(methods.map((m) => [
      m,
      Object.fromEntries(lengths.map((p) => [p, meanStd(resultsOf(m, p).map(pick))])),
    ])) as Record<MethodName, Record<number, MeanStd | null>>;
  const tables: Record<string, Record<MethodName, Record<number, MeanStd | null>>> = {};
  for (const name of metricNames) tables[name] = summary((r) => r.scores[name] ?? NaN);
  for (const [name, pick] of Object.entries(extra)) tables[name] = summary(pick);

  const mdTable = (name: string) => {
    const head = `| method | ${lengths.map((p) => `P=${p}`).join(" | ")} |`;
    const sep = `| --- | ${lengths.map(() => "---").join(" | ")} |`;
    const rows = methods.map((m) =>
      `| ${m} | ${lengths.map((p) => cellText(tables[name][m][p])).join(" | ")} |`
    );
    const base = state.baseline?.scores[name];
    if (base !== undefined) {
      rows.unshift(`| base model (no prefix) | ${lengths.map(() => fmt(base)).join(" | ")} |`);
    }
    return [head, sep, ...rows].join("\n");
  };
  const titles: Record<string, string> = {
    devLoss: "final dev loss (nats per token; lower is better)",
    stepsToTarget: `optimizer steps to reach dev loss ${target?.toFixed(4)} (– never reached)`,
    reachedTarget: `share of seeds whose dev ${state.primary} reached ${metricTarget}`,
    stepsToTargetMetric:
      `optimizer steps until the dev ${state.primary} first reached ${metricTarget} (– never reached)`,
    secondsToTargetMetric:
      `seconds of training (evaluations included) until the dev ${state.primary} reached ${metricTarget} (– never reached)`,
    bestStep: "the step whose prefix was kept (the best evaluated one)",
  };
  const tableMd = [...metricNames, ...Object.keys(extra)].map((name) =>
    `### ${titles[name] ?? name}${name === state.primary ? " (primary metric)" : ""}\n\n` +
    `Mean ± sample std over seeds ${seedList(state)}.\n\n${mdTable(name)}\n`
  ).join("\n");
  const tablePath = join(outDir, "results.md");
  await Deno.writeTextFile(tablePath, `# Results\n\n${tableMd}`);

  const csvLines = ["method,prefix_len,metric,mean,std,n"];
  for (const [name, t] of Object.entries(tables)) {
    for (const m of methods) {
      for (const p of lengths) {
        const s = t[m][p];
        if (s) csvLines.push(`${m},${p},${name},${s.mean},${s.std},${s.n}`);
      }
    }
  }
  for (const [name, v] of Object.entries(state.baseline?.scores ?? {})) {
    csvLines.push(`base,0,${name},${v},0,1`);
  }
  const csvPath = join(outDir, "results.csv");
  await Deno.writeTextFile(csvPath, csvLines.join("\n") + "\n");

  // Plots.
  const plots: { path: string; caption: string }[] = [];
  const write = async (name: string, svg: string, caption: string) => {
    const path = join(plotsDir, name);
    await Deno.writeTextFile(path, svg);
    plots.push({ path, caption });
  };
  const primary = state.primary;
  const metricSeries: PlotSeries[] = methods.map((m) => ({
    name: m,
    points: lengths.map((p) => [p, tables[primary]?.[m][p]?.mean ?? NaN] as const),
  }));
  const base = state.baseline?.scores[primary];
  if (base !== undefined && Number.isFinite(base)) {
    metricSeries.push({
      name: "base model",
      points: [[lengths[0], base], [lengths.at(-1)!, base]],
      dashed: true,
      color: "#777777",
      markers: false,
    });
  }
  await write(
    "metric_vs_prefix_len.svg",
    lineChartSvg({
      title: `${primary} against prefix length`,
      xLabel: "prefix length P",
      yLabel: `${primary} (mean over seeds)`,
      series: metricSeries,
    }),
    `${primary} against prefix length, per method (robustness across prefix lengths)`,
  );
  for (const p of lengths) {
    const series = methods.map((m) => ({ name: m, points: meanCurve(resultsOf(m, p)) }))
      .filter((s) => s.points.length > 0);
    if (series.length === 0) continue;
    await write(
      `dev_loss_p${p}.svg`,
      lineChartSvg({
        title: `Dev loss during training, P=${p}`,
        xLabel: "optimizer step",
        yLabel: "dev loss (mean over seeds)",
        series,
      }),
      `Dev loss against steps at P=${p}, per method (convergence)`,
    );
  }
  for (const m of methods.filter((m) => METHOD_SETTINGS[m].gate)) {
    for (const p of lengths) {
      const r = resultsOf(m, p)[0];
      if (!r || r.gates.length === 0) continue;
      await write(
        `gates_${m.replace("+", "-")}_p${p}.svg`,
        gatesChartSvg(
          r.gateSteps,
          r.gates,
          `Gate per prefix token: ${m}, P=${p}, seed ${r.cell.seed}`,
        ),
        `Gate values per token over training: ${m}, P=${p} (seed ${r.cell.seed})`,
      );
    }
  }
  if (target !== null) {
    await write(
      "steps_to_target.svg",
      lineChartSvg({
        title: `Steps to reach dev loss ${target.toFixed(3)}`,
        xLabel: "prefix length P",
        yLabel: "optimizer steps (mean over seeds)",
        series: methods.map((m) => ({
          name: m,
          points: lengths.map((p) => [p, tables.stepsToTarget[m][p]?.mean ?? NaN] as const),
        })),
      }),
      `Optimizer steps to reach dev loss ${target.toFixed(4)}, per method (convergence speed)`,
    );
  }

  const pending = state.cells.filter((c) => !state.results[c.id]).map((c) => c.id);
  const s = state.settings;
  const report = [
    "# Study: prefix-tuning methods across prefix lengths",
    "",
    `Task **${s.task}**, base model \`${s.model}\`. ${done.length} of ${state.cells.length} runs done${
      pending.length ? ` (pending: ${pending.join(", ")})` : ""
    }.`,
    "",
    "## Command",
    "",
    "```sh",
    options.command ?? "(run from the library: runExperiment)",
    "```",
    "",
    "## Settings",
    "",
    `- methods: ${methods.join(", ")}`,
    `- prefix lengths: ${lengths.join(", ")}`,
    `- seeds: ${seedList(state)}`,
    `- data: train \`${s.data.train}\`, dev \`${
      s.data.dev ?? "none"
    }\`, metrics on \`${s.data.test}\``,
    `- training: \`${JSON.stringify(s.training)}\``,
    `- evaluation: \`${JSON.stringify(s.evaluation)}\``,
    `- target dev loss: ${
      target === null
        ? "none (no dev data)"
        : `${target.toFixed(4)}${
          options.targetDevLoss === undefined ? " (the worst final dev loss of the grid)" : ""
        }`
    }`,
    "",
    "## Results",
    "",
    tableMd,
    "## Plots",
    "",
    ...plots.flatMap((
      p,
    ) => [`### ${p.caption}`, "", `![${p.caption}](plots/${p.path.split(/[\\/]/).pop()})`, ""]),
    "## How the numbers are made",
    "",
    "Each run trains a prefix with the SDK's training loop (`train()`), then evaluates it with",
    "`evaluateExamples()`: E2E/JSONL tasks generate and score BLEU, NIST (the official E2E scorer's",
    "Python mode), ROUGE-L and CIDEr; GLUE tasks score each label's verbalizer by log-likelihood.",
    "The base-model row is the same evaluation without a prefix. Per-run files are in `runs/<run>/`",
    "(metrics.jsonl, loss and gate plots, the bundle, generations.jsonl, cell.json).",
    "",
  ].join("\n");
  const reportPath = join(outDir, "report.md");
  await Deno.writeTextFile(reportPath, report);
  return { table: tablePath, csv: csvPath, report: reportPath, plots: plots.map((p) => p.path) };
}

function seedList(state: ExperimentState): string {
  return [...new Set(state.cells.map((c) => c.seed))].join(", ");
}

/** Mean dev-loss curve over seeds, at the steps the runs share. */
function meanCurve(results: ExperimentState["results"][string][]): [number, number][] {
  const byStep = new Map<number, number[]>();
  for (const r of results) {
    for (const [step, loss] of r.devCurve) byStep.set(step, [...(byStep.get(step) ?? []), loss]);
  }
  return [...byStep.entries()].sort((a, b) => a[0] - b[0])
    .map(([step, ls]) => [step, ls.reduce((a, b) => a + b, 0) / ls.length]);
}
