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
  exportOnnx,
  type ExportOptions,
  type ExportProgress,
  type ExportRecord,
  type ExportResult,
  readExportRecord,
} from "./export_decoder.ts";
export type { ExportDtype } from "./decoder_weights.ts";
