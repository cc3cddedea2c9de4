/** The training loop and its parts: options, checkpoints, metrics, progress. @module */
export {
  type ScoredStep,
  train,
  type TrainData,
  type TrainHooks,
  type TrainResult,
  type TrainRunOptions,
} from "./train.ts";
export {
  checkContext,
  DEFAULT_TRAIN_OPTIONS,
  IDENTITY_KEYS,
  resolveTrainOptions,
  type TrainOptions,
} from "./train_options.ts";
export {
  type Checkpoint,
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  type CheckpointState,
  checkResumable,
  identityOptions,
  type LogWindow,
  readCheckpoint,
  writeCheckpoint,
} from "./checkpoint.ts";
export {
  type EvalRecord,
  MetricsLog,
  type MetricsRecord,
  readMetrics,
  type TrainRecord,
  type WarnRecord,
} from "./metrics_log.ts";
export { folderRun, memoryRun, type RunFiles, runFiles, type RunTarget } from "./run_files.ts";
export { formatDuration, ProgressBar, type ProgressSink, stderrSink } from "./progress_bar.ts";
export {
  type BestPrefix,
  type Candidate,
  type DevMetric,
  isBetterCandidate,
  judgeRun,
  type RunVerdict,
} from "./best_prefix.ts";
