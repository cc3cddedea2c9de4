/**
 * prefix-edge: train per-task prefixes for a frozen language model on WebGPU,
 * ship each task as a small verified bundle, and serve many tasks from one
 * base model with ONNX Runtime and Hono.
 *
 * This module is what a user of the SDK needs: load a model, train a prefix,
 * write and read bundles, generate, and serve. Each concern has its own entry
 * with everything it offers: `@prefix-edge/sdk/model`, `/infer`, `/bundle`,
 * `/train`, `/serve` and `/eval`.
 *
 * @example Generate with the embedded default model
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { InferenceEngine, loadModel } from "./mod.ts";
 * const model = await loadModel("models/stories260K");
 * const engine = await InferenceEngine.create(model, { executionProvider: "wasm" });
 * const { text } = await engine.generate({ prompt: "Once upon a time", maxNewTokens: 8 }).result;
 * assertEquals(text, ", there was a little girl"); // greedy decoding
 * await engine.dispose();
 * ```
 *
 * @module
 */
export { type ErrorCode, PrefixEdgeError } from "./src/errors/mod.ts";
export { VERSION } from "./src/version.ts";

// Models and tokenizers.
export {
  applyChatTemplate,
  type ChatMessage,
  type LoadedModel,
  loadModel,
  memoryFiles,
  type ModelConfig,
  type ModelFamily,
  type ModelFiles,
  type ModelSource,
  type Prefix,
  prefixWidth,
  SafetensorsFile,
  SeededRandom,
  TextTokenizer,
  urlFiles,
} from "./src/model/mod.ts";

// The prefix module (parameters, init, fold).
export { PrefixModule, type PrefixOptions, type Reparam, REPARAMS } from "./src/prefix/mod.ts";

// Bundles.
export {
  BUNDLE_DTYPES,
  type BundleDtype,
  BundleError,
  type BundleGeneration,
  type BundleManifest,
  type BundlePrompt,
  type CreateBundleOptions,
  exportPeft,
  importPeft,
  loadPrefixSource,
  loadTaskPrefix,
  modelFingerprint,
  PrefixBundle,
  type ReadBundleOptions,
  type TaskUsage,
  validateTaskName,
} from "./src/bundle/mod.ts";

// ONNX export from safetensors (no Python).
export {
  type CalibrationOptions,
  EXPORT_LOGIT_BOUNDS,
  exportOnnx,
  type ExportOptions,
  type ExportResult,
  readExportRecord,
} from "./src/onnx/mod.ts";

// Inference.
export {
  type BatchOptions,
  ContinuousBatch,
  type EngineOptions,
  type ExecutionProvider,
  type FinishReason,
  type GenerateOptions,
  type GenerationResult,
  type GenerationStream,
  InferenceEngine,
  type LogitsRequest,
  type LogitsResult,
  type TokenEvent,
} from "./src/infer/mod.ts";

// Training.
export {
  assertTrainable,
  createTrainer,
  type CreateTrainerOptions,
  type DevMetric,
  loadExamples,
  lossAndGrads,
  type LossAndGradsOptions,
  memoryRun,
  OrtPrefixTrainer,
  parseExamples,
  PrefixTrainer,
  prepareDataset,
  readCheckpoint,
  readSlotValues,
  taskUsage,
  train,
  type TrainData,
  type TrainingBackend,
  trainingBackendCandidates,
  type TrainResult,
  type TrainRunOptions,
  trainSteps,
  type TrainStepsOptions,
} from "./src/train/mod.ts";
export type { KernelSetName } from "./src/gpu/mod.ts";

// Serving.
export {
  type BundleStore,
  createApp,
  type CreateAppOptions,
  FolderBundleStore,
  HttpBundleStore,
  MemoryBundleStore,
  openServer,
  type OpenServerOptions,
  type ServeApp,
  type ServeEngine,
} from "./src/serve/mod.ts";

// Evaluation: metrics, verbalizer scoring, charts.
export {
  e2eMetrics,
  type E2eScores,
  gatesChartSvg,
  glueMetrics,
  type GlueMetricTask,
  type GlueScores,
  lineChartSvg,
  lossChartSvg,
  metricChartSvg,
  scoreContinuations,
  slotMetrics,
  type SlotScores,
  type SlotValues,
} from "./src/eval/mod.ts";

// The paper's study: task evaluation and the method x prefix-length grid.
export {
  type EvalTask,
  evaluateExamples,
  type EvaluateOptions,
  type EvaluationResult,
  type ExperimentOptions,
  type ExperimentResult,
  generationDevMetric,
  runExperiment,
} from "./src/study/mod.ts";

// Types that the API above takes or returns.
export type { ChatTemplateSource, ModelPaths, TensorInfo } from "./src/model/mod.ts";
export type {
  BaseFingerprint,
  BundleBase,
  BundleMethod,
  BundleTraining,
  FingerprintKind,
  ImportPeftOptions,
  PeftPrefixConfig,
  PrefixSourceOptions,
  WriteBundleOptions,
} from "./src/bundle/mod.ts";
export type { BatchStats, BatchStep } from "./src/infer/mod.ts";
export type {
  AdamWOptions,
  BatchLoss,
  Checkpoint,
  DataFormat,
  ExportedPrefix,
  LoadedExamples,
  OptimizerState,
  RunFiles,
  TokenBatch,
  TokenizedDataset,
  TrainHooks,
  TrainOptions,
} from "./src/train/mod.ts";
export type {
  BundleDecoder,
  JoinableBatch,
  OpenedServer,
  RowOptions,
  RowStream,
  Scheduler,
  SchedulerOptions,
  ServeContext,
  ServeLimits,
  ServerMetrics,
  TaskRegistry,
} from "./src/serve/mod.ts";
export type { LineChartOptions } from "./src/eval/mod.ts";
