/**
 * The paper's study: evaluate a model (with or without a prefix) on E2E and
 * GLUE, and run the method x prefix-length x seed grid with its tables,
 * plots and report.
 *
 * @module
 */
export {
  checkEvalTask,
  type ClassificationTask,
  EVAL_TASKS,
  type EvalTask,
  positiveLabel,
  primaryMetric,
  verbalizersFor,
} from "./eval_task.ts";
export {
  type EvalItem,
  evaluateExamples,
  type EvaluateOptions,
  type EvaluationResult,
} from "./evaluate.ts";
export { type EvaluationFiles, formatScore, writeEvaluation } from "./write_evaluation.ts";
export { labelledProgressBar } from "./progress.ts";
export {
  checkMethods,
  DEFAULT_PREFIX_LENGTHS,
  type GridCell,
  gridCells,
  METHOD_SETTINGS,
  type MethodName,
  METHODS,
} from "./experiment_grid.ts";
export {
  type BaselineResult,
  type CellResult,
  type ExperimentHooks,
  type ExperimentOptions,
  type ExperimentResult,
  type ExperimentSettings,
  type ExperimentState,
  type GridEvalOptions,
  type GridTrainOptions,
  runExperiment,
} from "./run_experiment.ts";
export {
  type ExperimentFiles,
  type MeanStd,
  meanStd,
  type ReportOptions,
  stepsToTarget,
  writeExperimentReport,
} from "./experiment_report.ts";
export {
  engineDevMetric,
  type GenerationDevMetric,
  generationDevMetric,
  type GenerationDevMetricOptions,
} from "./dev_metric.ts";
