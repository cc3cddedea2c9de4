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
