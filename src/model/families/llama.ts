/**
 * The Llama family (HF `LlamaForCausalLM`, `Qwen2ForCausalLM`, `Qwen3ForCausalLM`): RMSNorm,
 * rotate_half RoPE, grouped-query attention, q/k/v biases (Qwen2), a per-head q/k RMSNorm
 * (Qwen3), the SwiGLU MLP, and a tied or separate LM head. This file is the family's one
 * description of its weights and of the config fields it refuses; the WebGPU trainer
 * (src/train/webgpu/llama.ts), the ONNX Runtime training graph (src/train/ort/llama.ts) and the
 * exporter (src/onnx/decoder_llama.ts) read it. RoPE's frequencies are in src/model/rope.ts.
 *
 * @module
 */
import { assertImplemented, type ModelConfig } from "../config.ts";
import { linearWeight, tableWeight, vectorWeight, type WeightSpec } from "./weight_spec.ts";

/**
 * One decoder layer's weights (d model width, H / Hk query / key-value heads, hd head size,
 * m MLP width). Linear weights are `nn.Linear`'s `[out, in]`.
 */
export interface LlamaLayerWeights {
  /** `input_layernorm`: `[d]`. */
  readonly inputNorm: WeightSpec;
  /** `q_proj`: `[H hd, d]`. */
  readonly q: WeightSpec;
  /** `k_proj`: `[Hk hd, d]`. */
  readonly k: WeightSpec;
  /** `v_proj`: `[Hk hd, d]`. */
  readonly v: WeightSpec;
  /** Qwen2's q/k/v biases (`qkvBias`), else absent. */
  readonly qkvBias?: { readonly q: WeightSpec; readonly k: WeightSpec; readonly v: WeightSpec };
  /** Qwen3's per-head RMSNorm weights `[hd]` on q and k before RoPE (`qkNorm`), else absent. */
  readonly qkNorm?: { readonly q: WeightSpec; readonly k: WeightSpec };
  /** `o_proj`: `[d, H hd]`. */
  readonly o: WeightSpec;
  /** `post_attention_layernorm`: `[d]`. */
  readonly postNorm: WeightSpec;
  /** `gate_proj`: `[m, d]`. */
  readonly gate: WeightSpec;
  /** `up_proj`: `[m, d]`. */
  readonly up: WeightSpec;
  /** `down_proj`: `[d, m]`. */
  readonly down: WeightSpec;
}

/** The weights outside the layers. */
export interface LlamaModelWeights {
  /** `embed_tokens`: `[V, d]`. */
  readonly embedding: WeightSpec;
  /** `norm`: `[d]`, before the head. */
  readonly finalNorm: WeightSpec;
  /** `lm_head`: `[V, d]`; the embedding itself when `tie_word_embeddings`. */
  readonly head: WeightSpec;
}

/**
 * Layer `l`'s weights.
 *
 * @example Qwen3 adds the per-head q/k norms
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { parseConfig } from "../config.ts";
 * const c = parseConfig({
 *   model_type: "qwen3", num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2,
 *   hidden_size: 32, head_dim: 16, intermediate_size: 48, max_position_embeddings: 64,
 *   vocab_size: 100,
 * });
 * const w = llamaLayerWeights(c, 0);
 * assertEquals(w.k, { name: "model.layers.0.self_attn.k_proj.weight", shape: [32, 32], layout: "out_in" });
 * assertEquals(w.qkNorm?.q.shape, [16]);
 * assertEquals(w.qkvBias, undefined);
 * ```
 */
export function llamaLayerWeights(c: ModelConfig, l: number): LlamaLayerWeights {
  const d = c.hiddenSize, m = c.intermediateSize, hd = c.headDim;
  const Cq = c.numHeads * hd, D = c.numKvHeads * hd;
  const p = `model.layers.${l}`, a = `${p}.self_attn`;
  return {
    inputNorm: vectorWeight(`${p}.input_layernorm.weight`, d),
    q: linearWeight(`${a}.q_proj.weight`, Cq, d),
    k: linearWeight(`${a}.k_proj.weight`, D, d),
    v: linearWeight(`${a}.v_proj.weight`, D, d),
    qkvBias: c.qkvBias
      ? {
        q: vectorWeight(`${a}.q_proj.bias`, Cq),
        k: vectorWeight(`${a}.k_proj.bias`, D),
        v: vectorWeight(`${a}.v_proj.bias`, D),
      }
      : undefined,
    qkNorm: c.qkNorm
      ? { q: vectorWeight(`${a}.q_norm.weight`, hd), k: vectorWeight(`${a}.k_norm.weight`, hd) }
      : undefined,
    o: linearWeight(`${a}.o_proj.weight`, d, Cq),
    postNorm: vectorWeight(`${p}.post_attention_layernorm.weight`, d),
    gate: linearWeight(`${p}.mlp.gate_proj.weight`, m, d),
    up: linearWeight(`${p}.mlp.up_proj.weight`, m, d),
    down: linearWeight(`${p}.mlp.down_proj.weight`, d, m),
  };
}

/** The embedding, the final norm and the head. */
export function llamaModelWeights(c: ModelConfig): LlamaModelWeights {
  const d = c.hiddenSize;
  const embedding = tableWeight("model.embed_tokens.weight", c.vocabSize, d);
  return {
    embedding,
    finalNorm: vectorWeight("model.norm.weight", d),
    head: c.tieWordEmbeddings ? embedding : tableWeight("lm_head.weight", c.vocabSize, d),
  };
}

/**
 * Refuse Llama-family config fields whose maths the family does not implement (the shared
 * list in `unsupportedFeature`).
 *
 * @param c the model config
 * @param doing what the caller was about to do, e.g. "Cannot export ONNX"
 * @throws {PrefixEdgeError} `UNSUPPORTED_MODEL` naming the field and its value
 */
export function checkLlamaConfig(c: ModelConfig, doing: string): void {
  assertImplemented(c, doing);
}
