/**
 * Training prefixes on WebGPU or ONNX Runtime (native, WASM): the low-level trainers, the
 * backend choice, and thin wrappers over them.
 *
 * @module
 */
export {
  type AdamWOptions,
  type BatchLoss,
  type OptimizerState,
  resolveAdamW,
  type ResolvedAdamW,
  type StepResult,
  type TokenBatch,
  type Trainer,
  type TrainerFactory,
  type TrainerSize,
} from "./trainer.ts";
export { PrefixTrainer, type TrainerLimits } from "./webgpu/prefix_trainer.ts";
export { lossAndGrads, type LossAndGradsOptions } from "./loss_and_grads.ts";
export {
  type ChosenTrainer,
  createTrainer,
  type CreateTrainerOptions,
  TRAINING_BACKENDS,
  type TrainingBackend,
  type TrainingBackendCandidate,
  trainingBackendCandidates,
} from "./training_backend.ts";
export {
  OrtPrefixTrainer,
  type OrtTrainerOptions,
  type OrtTrainingBackend,
} from "./ort/ort_trainer.ts";
export { assertTrainable } from "./webgpu/mod.ts";
export { trainSteps, type TrainStepsOptions } from "./train_steps.ts";
// Training data, loop, schedule and export.
export * from "./data/mod.ts";
export * from "./loop/mod.ts";
export { type LinearScheduleOptions, linearWarmupDecay } from "./schedule.ts";
export { MAIN_JOB_FILES, MAIN_JOB_OPTIONS, MAIN_JOB_PATIENCE } from "./main_job.ts";
export {
  type ExportedPrefix,
  exportPrefix,
  type ExportPrefixInput,
  type TrainingFacts,
} from "./export_prefix.ts";
