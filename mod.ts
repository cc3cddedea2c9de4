/**
 * prefix-edge: train per-task prefixes for a frozen language model on WebGPU,
 * ship each task as a small verified bundle, and serve many tasks from one
 * base model with ONNX Runtime and Hono.
 *
 * Each concern lives in its own folder under `src/` and re-exports its public
 * API from `src/<concern>/mod.ts`; this file only gathers them.
 *
 * @module
 */
export * from "./src/errors/mod.ts";
export * from "./src/model/mod.ts";
export * from "./src/gpu/mod.ts";
export * from "./src/prefix/mod.ts";
export * from "./src/bundle/mod.ts";
export * from "./src/onnx/mod.ts";
export * from "./src/infer/mod.ts";
export * from "./src/train/mod.ts";
export * from "./src/serve/mod.ts";
export * from "./src/eval/mod.ts";
