/**
 * ONNX graphs without Python: a protobuf writer, a graph builder, and the
 * decoder exporter that turns an HF safetensors checkpoint into the
 * `onnx/model.onnx` the inference engine runs.
 *
 * @module
 */
export { type Attr, GraphBuilder, type ModelOptions, type OpOptions } from "./graph_builder.ts";
export {
  type AttributeValue,
  ELEM_TYPE,
  type ElemType,
  encodeModelChunks,
  type ModelSpec,
  type NodeSpec,
  type TensorData,
  type TensorSpec,
  type ValueInfo,
} from "./proto.ts";
export {
  DECODER_OPSET,
  exportOnnx,
  type ExportOptions,
  type ExportProgress,
  type ExportRecord,
  type ExportResult,
  EXTERNAL_DATA_THRESHOLD,
  readExportRecord,
} from "./export_decoder.ts";
export { type ExportDtype, quantizeInt8 } from "./decoder_weights.ts";
