/** Model loading: HF configs, safetensors, tokenizers. @module */
export {
  assertImplemented,
  kvWidth,
  type Llama3RopeScaling,
  type ModelConfig,
  type ModelFamily,
  parseConfig,
  prefixWidth,
  type UnsupportedFeature,
  unsupportedFeature,
} from "./config.ts";
export {
  decodeFloat32,
  encodeSafetensors,
  MAX_HEADER_BYTES,
  type SafetensorsDtype,
  SafetensorsFile,
  type TensorInfo,
  type TensorToWrite,
} from "./safetensors.ts";
export { TextTokenizer } from "./tokenizer.ts";
export {
  applyChatTemplate,
  type ChatMessage,
  chatTemplateFromConfig,
  type ChatTemplateSource,
  PLAIN_CHAT_FORMAT,
} from "./chat_template.ts";
export { type LoadedModel, loadModel, type ModelPaths } from "./load_model.ts";
export {
  blobFile,
  bytesFile,
  type FileContent,
  fileUrlToPath,
  folderFiles,
  memoryFiles,
  MODEL_CACHE,
  type ModelFiles,
  modelFiles,
  type ModelSource,
  type RandomAccessFile,
  type SourceKind,
  urlFiles,
} from "./model_files.ts";
export { type EndOfOutput, endOfOutputToken } from "./end_of_output.ts";
export { type ExportRecord, readExportRecord } from "./export_record.ts";
export { type Prefix, prefixSlot, validatePrefix } from "./prefix_kv.ts";
export {
  ropeInverseFrequencies,
  ropeInverseFrequenciesF32,
  type RopeTables,
  ropeTables,
} from "./rope.ts";
export {
  checkGpt2Config,
  checkLlamaConfig,
  GPT2_ACTIVATIONS,
  type Gpt2LayerWeights,
  gpt2LayerWeights,
  type Gpt2ModelWeights,
  gpt2ModelWeights,
  type LayerNormWeights,
  type LlamaLayerWeights,
  llamaLayerWeights,
  type LlamaModelWeights,
  llamaModelWeights,
  type WeightLayout,
  type WeightSpec,
} from "./families/mod.ts";
export { concatBytes, readAt, sha256Hex } from "./bytes.ts";
export { SeededRandom } from "./seeded_random.ts";
