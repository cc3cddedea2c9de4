/**
 * The browser build's entry: what a web page imports from `dist/web/mod.js` (made by
 * `deno task build:web`, src/web/build.ts). It offers the SDK's page-ready API: load a model
 * from a URL or from files in memory, compute prefix gradients and train on WebGPU or on
 * onnxruntime-web's WASM, run and generate with prefixes, read and write bundles, and the
 * metrics. File paths, servers and the CLI stay in Deno.
 *
 * On import in a page it points the WGSL kernels and onnxruntime-web's `.wasm` files at the
 * folders the build puts beside the bundle (`kernels/` and `ort/`), so a page that serves
 * `dist/web/` as it is needs no set-up. Run from its source (in Deno, under `src/web/`) it
 * leaves the defaults alone: the repository's `kernels/` and the npm package's files.
 *
 * @example In a page (not run here: it imports the built bundle, which a page loads; the
 * browser tests in tests/web/ run the same calls in Chromium)
 * ```ts ignore
 * import { loadModel, lossAndGrads, PrefixModule } from "./dist/web/mod.js";
 * const model = await loadModel("https://example.com/models/stories260K/");
 * const pm = PrefixModule.init(model.config, { prefixLen: 4, reparam: "residual", gate: true, midDim: 16 });
 * const { loss } = await lossAndGrads(model, pm, { inputIds: [[1, 2, 3]], labels: [[-100, 2, 3]] });
 * ```
 *
 * @module
 */
import { setKernelBaseUrl } from "../gpu/gpu_context.ts";
import { setOrtWasmPaths } from "../infer/ort_backend.ts";

/** The bundle's assets, relative to the bundle (the build writes them there). */
export const WEB_ASSETS = { kernels: "./kernels/", ort: "./ort/" } as const;

/**
 * Point the kernels and onnxruntime-web's files at the folders beside a module URL.
 *
 * @param moduleUrl the bundle's URL (`import.meta.url` of `mod.js`, the default), or any URL
 * whose folder holds `kernels/` and `ort/`
 */
export function useAssetsBeside(moduleUrl: string | URL): void {
  setKernelBaseUrl(new URL(WEB_ASSETS.kernels, moduleUrl));
  setOrtWasmPaths(new URL(WEB_ASSETS.ort, moduleUrl).href);
}

// Bundled, import.meta.url is dist/web/mod.js; from source it is this file, whose folder has
// no assets (the defaults then find the repository's kernels and the npm package).
if (!import.meta.url.endsWith("/src/web/mod.ts")) useAssetsBeside(import.meta.url);

export { type ErrorCode, PrefixEdgeError } from "../errors/mod.ts";
export { VERSION } from "../version.ts";

// Models: a URL of a Hugging Face folder, or files in memory (a dropped folder).
export {
  applyChatTemplate,
  blobFile,
  bytesFile,
  type ChatMessage,
  type LoadedModel,
  loadModel,
  memoryFiles,
  MODEL_CACHE,
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
} from "../model/mod.ts";

// The prefix module.
export {
  PARAM_NAMES,
  paramShapes,
  PrefixModule,
  type PrefixOptions,
  type Reparam,
  REPARAMS,
} from "../prefix/mod.ts";

// Bundles, from a URL or bytes.
export {
  BUNDLE_DTYPES,
  type BundleDtype,
  BundleError,
  type BundleManifest,
  type CreateBundleOptions,
  formatTaskPrompt,
  modelFingerprint,
  PrefixBundle,
  type ReadBundleOptions,
  taskEosTokenIds,
  type TaskUsage,
  taskUsageOf,
  validateTaskName,
} from "../bundle/mod.ts";

// Inference on onnxruntime-web (WASM or WebGPU).
export {
  defaultWasmThreads,
  type EngineOptions,
  type ExecutionProvider,
  type GenerateOptions,
  type GenerationResult,
  type GenerationStream,
  InferenceEngine,
  type LogitsRequest,
  type LogitsResult,
  setOrtWasmPaths,
  type TokenEvent,
} from "../infer/mod.ts";

// Training: the trainer contract, the backends (WebGPU, onnxruntime-web's WASM), one-shot
// gradients and steps.
export {
  type AdamWOptions,
  type BatchLoss,
  type ChosenTrainer,
  createTrainer,
  type CreateTrainerOptions,
  lossAndGrads,
  type LossAndGradsOptions,
  type OptimizerState,
  OrtPrefixTrainer,
  PrefixTrainer,
  resolveAdamW,
  type StepResult,
  type TokenBatch,
  type Trainer,
  TRAINING_BACKENDS,
  type TrainingBackend,
  trainingBackendCandidates,
  trainSteps,
  type TrainStepsOptions,
} from "../train/mod.ts";
export {
  collateBatch,
  IGNORE_INDEX,
  type LoadedExamples,
  parseExamples,
  parseJsonl,
  taskUsage,
  tokenizeDataset,
  type TokenizedDataset,
} from "../train/data/mod.ts";

// The training loop, in a page: memory or the origin's private file system hold the run, an
// AbortSignal stops it, and the main job's settings are the CLI's.
export {
  type EvalRecord,
  MAIN_JOB_FILES,
  MAIN_JOB_OPTIONS,
  memoryRun,
  type MetricsRecord,
  readCheckpoint,
  type RunFiles,
  train,
  type TrainData,
  type TrainHooks,
  type TrainRecord,
  type TrainResult,
  type TrainRunOptions,
} from "../train/mod.ts";
export { opfsRun, removeOpfsRun } from "./opfs_run.ts";
export { type EndOfOutput, endOfOutputToken } from "../model/mod.ts";
export { type GenerationDevMetric, generationDevMetric } from "../study/mod.ts";
export { linearWarmupDecay } from "../train/schedule.ts";

// WebGPU: the adapter, and the page's stand-ins for the PREFIX_EDGE_* variables.
export {
  type AdapterFacts,
  adapterFacts,
  KERNEL_SET_NAMES,
  type KernelDefaults,
  kernelEnv,
  type KernelSetName,
  setKernelBaseUrl,
  setKernelDefaults,
} from "../gpu/mod.ts";

// Metrics and charts.
export {
  e2eMetrics,
  gatesChartSvg,
  glueMetrics,
  lineChartSvg,
  lossChartSvg,
  metricChartSvg,
  scoreContinuations,
  slotMetrics,
} from "../eval/mod.ts";
