/**
 * Serving many tasks from one base model over HTTP: a Hono app
 * ({@link createApp}), a task registry with an LRU memory budget, bundle
 * stores (folder, HTTP, memory), a cross-task batching scheduler, request
 * validation, one error shape, and Prometheus metrics.
 *
 * @module
 */
export { createApp, type CreateAppOptions, parseCorsOrigins, type ServeApp } from "./create_app.ts";
export type { ServeContext } from "./serve_context.ts";
export type {
  JoinableBatch,
  RowOptions,
  RowResult,
  RowStream,
  RowToken,
  ServeEngine,
} from "./engine_port.ts";
export {
  type ErrorBody,
  errorBody,
  type ErrorBodyOptions,
  errorResponse,
  OPENAI_CODES,
  statusForCode,
} from "./error_response.ts";
export {
  bundleFileName,
  type BundleStore,
  DEFAULT_MAX_BUNDLE_BYTES,
  type VersionedRead,
} from "./bundle_store.ts";
export { FolderBundleStore } from "./folder_bundle_store.ts";
export { HttpBundleStore, type HttpBundleStoreOptions } from "./http_bundle_store.ts";
export { MemoryBundleStore } from "./memory_bundle_store.ts";
export { openBundleStore } from "./open_bundle_store.ts";
export {
  openPublishTarget,
  type PublishTarget,
  type PublishTargetOptions,
} from "./publish_target.ts";
export {
  parseS3Url,
  S3BundleStore,
  type S3BundleStoreOptions,
  type S3FailureKind,
  S3StoreError,
  s3StoreFromEnv,
} from "./s3_bundle_store.ts";
export {
  type BundleDecoder,
  type DecodedBundle,
  DEFAULT_REVALIDATE_MS,
  type TaskEntry,
  type TaskListing,
  TaskRegistry,
  type TaskRegistryOptions,
} from "./task_registry.ts";
export {
  createScheduler,
  JoinScheduler,
  type ScheduledRow,
  Scheduler,
  type ScheduleRequest,
  type SchedulerOptions,
  type SchedulerStats,
  WaveScheduler,
} from "./scheduler.ts";
export {
  DEFAULT_LIMITS,
  type GenerationParams,
  parseChatBody,
  parseCompletionBody,
  parseGenerateBody,
  type ServeLimits,
} from "./request_params.ts";
export { BASE_TASK, TASK_NAME_PATTERN, validateTaskName } from "./task_name.ts";
export { checkBearer } from "./admin_auth.ts";
export { readBytesBody, readJsonBody } from "./read_body.ts";
export { formatSseEvent, sseResponse, type SseSink } from "./sse.ts";
export {
  Counter,
  Gauge,
  Histogram,
  type Labels,
  type Metric,
  MetricsRegistry,
} from "./prometheus.ts";
export { ServerMetrics } from "./server_metrics.ts";
export {
  type BackendCandidate,
  backendCandidates,
  createEngineWithFallback,
} from "./pick_backend.ts";
export {
  bundleDecoder,
  type OpenedServer,
  openServer,
  type OpenServerOptions,
} from "./open_server.ts";
