/**
 * The model families: for each, the one description of its checkpoint's weights (names, shapes,
 * layout) and the config fields it refuses. Adding a family starts here (docs/architecture.md).
 *
 * @module
 */
export {
  conv1dWeight,
  linearWeight,
  tableWeight,
  vectorWeight,
  type WeightLayout,
  type WeightSpec,
} from "./weight_spec.ts";
export {
  checkGpt2Config,
  GPT2_ACTIVATIONS,
  type Gpt2LayerWeights,
  gpt2LayerWeights,
  type Gpt2ModelWeights,
  gpt2ModelWeights,
  type LayerNormWeights,
} from "./gpt2.ts";
export {
  checkLlamaConfig,
  type LlamaLayerWeights,
  llamaLayerWeights,
  type LlamaModelWeights,
  llamaModelWeights,
} from "./llama.ts";
