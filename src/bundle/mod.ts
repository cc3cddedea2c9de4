/**
 * Prefix bundles: one task's folded prefix as a small verified zip
 * (`*.prefix.zip`), PEFT prefix-tuning interop, and base-model fingerprints.
 * The format is specified in docs/bundle-format.md.
 *
 * @module
 */
export { BundleError } from "./bundle_error.ts";
export { readResponseBounded } from "./_read_bounded.ts";
export {
  type BaseArchitecture,
  type BaseFingerprint,
  BUNDLE_DTYPES,
  BUNDLE_FORMAT,
  BUNDLE_FORMAT_VERSION,
  type BundleBase,
  type BundleDtype,
  type BundleGeneration,
  type BundleManifest,
  type BundleMethod,
  type BundlePrompt,
  type BundleReparam,
  type BundleTraining,
  type FingerprintKind,
  MAX_MANIFEST_BYTES,
} from "./manifest.ts";
export { modelFingerprint } from "./fingerprint.ts";
export {
  type CreateBundleOptions,
  DEFAULT_BUNDLE_MAX_BYTES,
  PrefixBundle,
  type ReadBundleOptions,
  type WriteBundleOptions,
} from "./prefix_bundle.ts";
export {
  exportPeft,
  GENERATION_CONFIG,
  importPeft,
  type ImportPeftOptions,
  PEFT_TENSOR,
  type PeftPrefixConfig,
} from "./peft.ts";
export {
  loadPrefixSource,
  loadTaskPrefix,
  type PrefixSourceOptions,
} from "./load_prefix_source.ts";
export { TASK_NAME_PATTERN, validateTaskName } from "./task_name.ts";
export { formatTaskPrompt, taskEosTokenIds, type TaskUsage, taskUsageOf } from "./task_usage.ts";
