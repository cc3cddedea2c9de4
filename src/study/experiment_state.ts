/**
 * The state of an experiment grid: its settings, each cell's result and the baseline. The runner
 * (run_experiment.ts) fills it and the report (experiment_report.ts) reads it; it lives apart from
 * both so that neither imports the other for a type.
 *
 * @module
 */
import type { TrainOptions } from "../train/mod.ts";
import type { EvalTask } from "./eval_task.ts";
import type { GridCell, MethodName } from "./experiment_grid.ts";

/** Training settings shared by every cell (the grid sets P, method and seed). */
export type GridTrainOptions = Partial<
  Omit<TrainOptions, "prefixLen" | "reparam" | "gate" | "seed">
>;

/** Evaluation settings shared by every cell. */
export interface GridEvalOptions {
  /** Beam width for generation tasks (default 5). */
  numBeams?: number;
  /** New tokens at most per generation (default 64). */
  maxNewTokens?: number;
  /** Evaluate the first N inputs only. */
  limit?: number;
  /** Generations decoded together (default 8). */
  batchSize?: number;
  /** Tokens that end a generation (set from the training data's end token). */
  eosTokenIds?: number[];
  /** The token verbalizers end with when scored (the training data's end token). */
  endTokenId?: number;
}

/** What a cell produced. */
export interface CellResult {
  /** The cell. */
  cell: GridCell;
  /** Metric name -> value. */
  scores: Record<string, number>;
  /** Inputs evaluated. */
  evalCount: number;
  /** Optimizer steps trained. */
  steps: number;
  /** Dev loss before training (null without dev data). */
  initialDevLoss: number | null;
  /** Final dev loss (null without dev data). */
  devLoss: number | null;
  /** Last train-window loss. */
  finalLoss: number | null;
  /** `[step, devLoss]` of each dev evaluation, step 0 first. */
  devCurve: [number, number][];
  /** `[step, dev metric]` of each evaluation, step 0 first (with a dev metric). */
  metricCurve?: [number, number][];
  /** The step whose prefix was kept and evaluated (with a dev metric or dev data). */
  bestStep?: number | null;
  /** Whether the dev metric reached `targetMetric` (then training stopped there). */
  reachedTarget?: boolean;
  /** Steps at which `gates` were logged (step 0 first). */
  gateSteps: number[];
  /** Gate per prefix token at each of `gateSteps` (all ones without a gate). */
  gates: number[][];
  /** Seconds spent training (this run of it) and evaluating. */
  seconds: { train: number; eval: number };
}

/** The baseline: the base model evaluated without a prefix. */
export interface BaselineResult {
  /** Metric name -> value. */
  scores: Record<string, number>;
  /** Inputs evaluated. */
  evalCount: number;
}

/** Everything the report is made from. */
export interface ExperimentState {
  /** The settings that shape the numbers (what `experiment.json` holds). */
  settings: ExperimentSettings;
  /** Cells of this run's grid, in order. */
  cells: GridCell[];
  /** Results of finished cells, by cell id. */
  results: Record<string, CellResult>;
  /** The baseline, once evaluated. */
  baseline: BaselineResult | null;
  /** The metric tables lead with. */
  primary: string;
}

/** The identity of an experiment: a rerun must match it to reuse results. */
export interface ExperimentSettings {
  /** Format version of experiment.json. */
  version: 1;
  /** Base model folder (absolute). */
  model: string;
  /** Data files (absolute). */
  data: { train: string; dev: string | null; test: string };
  /** The task. */
  task: EvalTask;
  /** Training settings. */
  training: GridTrainOptions;
  /** Evaluation settings. */
  evaluation: GridEvalOptions;
  /** Learning rate per method, when set. */
  lrByMethod?: Partial<Record<MethodName, number>>;
  /** Judged by the dev metric during training, with this target (null: no target). */
  devMetric?: { target: number | null };
}
