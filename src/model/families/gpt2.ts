/**
 * The GPT-2 family (HF `GPT2LMHeadModel`): learned positions, pre-LayerNorm blocks, the fused
 * q|k|v `Conv1D` weight stored `[in, out]`, a `gelu_new` MLP, and the LM head tied to the token
 * embedding. This file is the family's one description of its weights and of the config fields
 * it refuses; the WebGPU trainer (src/train/webgpu/gpt2.ts), the ONNX Runtime training graph
 * (src/train/ort/gpt2.ts) and the exporter (src/onnx/decoder_gpt2.ts) read it.
 *
 * @module
 */
import { PrefixEdgeError } from "../../errors/mod.ts";
import type { ModelConfig } from "../config.ts";
import { conv1dWeight, tableWeight, vectorWeight, type WeightSpec } from "./weight_spec.ts";

/** A LayerNorm's scale and shift. */
export interface LayerNormWeights {
  /** `[d]` γ. */
  readonly weight: WeightSpec;
  /** `[d]` β. */
  readonly bias: WeightSpec;
}

/** One GPT-2 block's weights (d model width, m MLP width). */
export interface Gpt2LayerWeights {
  /** `ln_1` before attention. */
  readonly ln1: LayerNormWeights;
  /** `attn.c_attn`: `[d, 3d]`, columns q | k | v. */
  readonly qkv: WeightSpec;
  /** `[3d]`. */
  readonly qkvBias: WeightSpec;
  /** `attn.c_proj`: `[d, d]`. */
  readonly attnOut: WeightSpec;
  /** `[d]`. */
  readonly attnOutBias: WeightSpec;
  /** `ln_2` before the MLP. */
  readonly ln2: LayerNormWeights;
  /** `mlp.c_fc`: `[d, m]`. */
  readonly fc: WeightSpec;
  /** `[m]`. */
  readonly fcBias: WeightSpec;
  /** `mlp.c_proj`: `[m, d]`. */
  readonly mlpOut: WeightSpec;
  /** `[d]`. */
  readonly mlpOutBias: WeightSpec;
}

/** The weights outside the blocks. */
export interface Gpt2ModelWeights {
  /** `wte`: `[V, d]`, also the LM head. */
  readonly tokenEmbedding: WeightSpec;
  /** `wpe`: `[maxPositions, d]`. */
  readonly positionEmbedding: WeightSpec;
  /** `ln_f`, before the head. */
  readonly finalNorm: LayerNormWeights;
}

const norm = (name: string, d: number): LayerNormWeights => ({
  weight: vectorWeight(`${name}.weight`, d),
  bias: vectorWeight(`${name}.bias`, d),
});

/**
 * Block `l`'s weights.
 *
 * @example
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { parseConfig } from "../config.ts";
 * const c = parseConfig({
 *   model_type: "gpt2", n_layer: 2, n_head: 2, n_embd: 8, n_positions: 16, vocab_size: 50,
 * });
 * const w = gpt2LayerWeights(c, 1);
 * assertEquals(w.qkv, { name: "transformer.h.1.attn.c_attn.weight", shape: [8, 24], layout: "in_out" });
 * assertEquals(w.mlpOut.shape, [32, 8]);
 * ```
 */
export function gpt2LayerWeights(c: ModelConfig, l: number): Gpt2LayerWeights {
  const d = c.hiddenSize, m = c.intermediateSize, p = `transformer.h.${l}`;
  return {
    ln1: norm(`${p}.ln_1`, d),
    qkv: conv1dWeight(`${p}.attn.c_attn.weight`, d, 3 * d),
    qkvBias: vectorWeight(`${p}.attn.c_attn.bias`, 3 * d),
    attnOut: conv1dWeight(`${p}.attn.c_proj.weight`, d, d),
    attnOutBias: vectorWeight(`${p}.attn.c_proj.bias`, d),
    ln2: norm(`${p}.ln_2`, d),
    fc: conv1dWeight(`${p}.mlp.c_fc.weight`, d, m),
    fcBias: vectorWeight(`${p}.mlp.c_fc.bias`, m),
    mlpOut: conv1dWeight(`${p}.mlp.c_proj.weight`, m, d),
    mlpOutBias: vectorWeight(`${p}.mlp.c_proj.bias`, d),
  };
}

/** The embeddings and the final norm. */
export function gpt2ModelWeights(c: ModelConfig): Gpt2ModelWeights {
  const d = c.hiddenSize;
  return {
    tokenEmbedding: tableWeight("transformer.wte.weight", c.vocabSize, d),
    positionEmbedding: tableWeight("transformer.wpe.weight", c.maxPositions, d),
    finalNorm: norm("transformer.ln_f", d),
  };
}

/** Activations GPT-2 configs name that the family implements. */
export const GPT2_ACTIVATIONS: ReadonlySet<string> = new Set([
  "gelu_new",
  "gelu_pytorch_tanh",
  "gelu",
]);

/**
 * Refuse GPT-2 config fields whose maths the family does not implement.
 *
 * @param c the model config
 * @param doing what the caller was about to do, e.g. "Cannot export ONNX"
 * @throws {PrefixEdgeError} `UNSUPPORTED_MODEL` naming the field
 */
export function checkGpt2Config(c: ModelConfig, doing: string): void {
  const refuse = (field: string, why: string): never => {
    throw new PrefixEdgeError("UNSUPPORTED_MODEL", `${doing}: ${field} ${why}`);
  };
  if (!GPT2_ACTIVATIONS.has(c.activation)) {
    refuse("activation_function", `"${c.activation}" is not supported (gelu_new, gelu)`);
  }
  if (c.raw.scale_attn_by_inverse_layer_idx === true) {
    refuse("scale_attn_by_inverse_layer_idx", "= true is not supported");
  }
  if (c.raw.scale_attn_weights === false) refuse("scale_attn_weights", "= false is not supported");
  if (c.raw.reorder_and_upcast_attn === true) {
    refuse("reorder_and_upcast_attn", "= true is not supported");
  }
  if (!c.tieWordEmbeddings) refuse("tie_word_embeddings", "= false is not supported for GPT-2");
}
