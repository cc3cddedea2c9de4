/**
 * Inference over ONNX Runtime: backend choice, prefix injection, batched
 * decoding with greedy / sampled / beam search, streaming.
 *
 * @module
 */
export {
  type EngineOptions,
  InferenceEngine,
  type LogitsRequest,
  type LogitsResult,
} from "./inference_engine.ts";
export {
  type BatchOptions,
  type BatchStats,
  type BatchStep,
  ContinuousBatch,
} from "./continuous_batch.ts";
export { DEFAULT_MAX_NEW_TOKENS, type GenerateOptions } from "./generate_options.ts";
export type {
  FinishReason,
  GenerationResult,
  GenerationStream,
  TokenEvent,
} from "./generation_stream.ts";
export { chooseExecutionProvider, type GpuProbe, probeGpu } from "./choose_execution_provider.ts";
export type { ExecutionProvider } from "./ort_backend.ts";
export { SeededRandom } from "../model/mod.ts";
export {
  type BackendSetup,
  defaultWasmThreads,
  loadOrtBackend,
  type OrtBackend,
  type OrtSession,
  type OrtTensor,
  setOrtWasmPaths,
} from "./ort_backend.ts";
