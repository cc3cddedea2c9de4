/** Training prefixes on WebGPU: the low-level trainer and thin wrappers over it. @module */
export {
  type AdamWOptions,
  type BatchLoss,
  type OptimizerState,
  PrefixTrainer,
  type TokenBatch,
  type TrainerLimits,
} from "./gpu_trainer.ts";
export { lossAndGrads } from "./loss_and_grads.ts";
export { assertTrainable } from "./graph/mod.ts";
export { trainSteps, type TrainStepsOptions } from "./train_steps.ts";
// Training data, loop, schedule and export (appended by the data/loop owner).
export * from "./data/mod.ts";
export * from "./loop/mod.ts";
export { type LinearScheduleOptions, linearWarmupDecay } from "./schedule.ts";
export {
  checkTaskName,
  type ExportedPrefix,
  exportPrefix,
  type ExportPrefixInput,
  TRAIN_TASK_NAME_PATTERN,
  type TrainingFacts,
} from "./export_prefix.ts";
