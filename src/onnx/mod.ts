/**
 * ONNX graphs without Python: a protobuf writer, a graph builder, and the
 * decoder exporter that turns an HF safetensors checkpoint into the
 * `onnx/model.onnx` the inference engine runs.
 *
 * @module
 */
export { type Attr, GraphBuilder, type ModelOptions, type OpOptions } from "./graph_builder.ts";
export type {
  AttributeValue,
  ElemType,
  ModelSpec,
  NodeSpec,
  TensorData,
  TensorSpec,
  ValueInfo,
} from "./proto.ts";
export {
  EXPORT_LOGIT_BOUNDS,
  exportOnnx,
  type ExportOptions,
  type ExportProgress,
  type ExportResult,
} from "./export_decoder.ts";
// The record lives with the model folder's layout; re-exported here, where exports are made.
export { type ExportRecord, readExportRecord } from "../model/mod.ts";
export type { ExportDtype } from "./decoder_weights.ts";
