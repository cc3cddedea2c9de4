/**
 * ONNX graphs without Python: a protobuf writer, a graph builder, and the
 * decoder exporter that turns an HF safetensors checkpoint into the
 * `onnx/model.onnx` the inference engine runs.
 *
 * @module
 */
export {
  type Attr,
  GraphBuilder,
  type ModelOptions,
  type NodeLowering,
  type NodeRequest,
  type OpOptions,
} from "./graph_builder.ts";
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
  type CalibrationOptions,
  EXPORT_LOGIT_BOUNDS,
  exportOnnx,
  type ExportOptions,
  type ExportProgress,
  type ExportResult,
} from "./export_decoder.ts";
// The record lives with the model folder's layout; re-exported here, where exports are made.
export { type ExportRecord, readExportRecord } from "../model/mod.ts";
export {
  EXPORT_DTYPES,
  type ExportDtype,
  Q4_BLOCK,
  Q4_ZERO_POINTS,
  quantizeBlocks,
} from "./decoder_weights.ts";

// The building blocks of a decoder graph, for graphs that extend the exporter's (the ONNX Runtime
// training graph adds a backward to each layer's forward).
export { DecoderWeights, encodeWeight, type WeightRequest } from "./decoder_weights.ts";
export { additiveMask, type DecoderInputs, linear } from "./decoder_common.ts";
export { gelu, gpt2Layer, type Gpt2LayerOps, type Gpt2LayerValues } from "./decoder_gpt2.ts";
export {
  llamaLayer,
  type LlamaLayerOps,
  type LlamaLayerValues,
  rmsNorm,
  rope,
  rotateHalf,
} from "./decoder_llama.ts";
export { ExternalData, writeChunks } from "./external_data.ts";
