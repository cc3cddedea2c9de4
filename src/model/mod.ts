/** Model loading: HF configs, safetensors, tokenizers. @module */
export { kvWidth, type ModelConfig, type ModelFamily, parseConfig, prefixWidth } from "./config.ts";
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
export { type LoadedModel, loadModel, type ModelPaths } from "./load_model.ts";
export { type Prefix, prefixSlot, validatePrefix } from "./prefix_kv.ts";
export { ropeInverseFrequencies, type RopeTables, ropeTables } from "./rope.ts";
export { concatBytes, readAt, sha256Hex } from "./bytes.ts";
