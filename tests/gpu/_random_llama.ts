/**
 * A Llama-family model with random weights built in memory (HF names and `[out, in]` Linear
 * layout), for benchmarks of shapes no fixture has and for training runs that need weights
 * larger than the oracle fixtures' N(0, 0.02). Qwen2 (q/k/v biases), Qwen3 (q/k norm, an
 * explicit head_dim), Llama 3 rope scaling and an untied head are options.
 */
import { encodeSafetensors, type LoadedModel, type TensorToWrite } from "../../src/model/mod.ts";
import { fill, inMemoryModel } from "./_random_gpt2.ts";

/** Shape of the random Llama. */
export interface RandomLlamaOptions {
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  intermediate: number;
  vocab: number;
  positions: number;
  std?: number;
  seed?: number;
  /** `model_type` (default llama). */
  modelType?: "llama" | "qwen2" | "qwen3";
  /** An explicit head_dim (default hidden / heads). */
  headDim?: number;
  /** A `rope_scaling` object for config.json. */
  ropeScaling?: Record<string, unknown>;
  /** Tie the LM head to the embedding (default true). */
  tie?: boolean;
  /** RoPE base (default 10000). */
  ropeTheta?: number;
}

/** Build it in memory. */
export async function randomLlama(o: RandomLlamaOptions): Promise<LoadedModel> {
  const { config, safetensors } = randomLlamaFiles(o);
  return await inMemoryModel(config, safetensors, "random-llama");
}

/**
 * Its two files: config.json's object and model.safetensors' bytes (for a folder on disk that
 * the exporter and the engine read).
 */
export function randomLlamaFiles(
  o: RandomLlamaOptions,
): { config: Record<string, unknown>; safetensors: Uint8Array } {
  const std = o.std ?? 0.02, C = o.hidden, hd = o.headDim ?? C / o.heads, F = o.intermediate;
  const type = o.modelType ?? "llama", tie = o.tie ?? true;
  const state = { s: (o.seed ?? 1) * 2654435761 >>> 0 || 1 };
  const t: Record<string, TensorToWrite> = {};
  const put = (name: string, shape: number[], s: number | "ones") => {
    const n = shape.reduce((x, y) => x * y, 1);
    t[name] = {
      dtype: "F32",
      shape,
      data: s === "ones" ? new Float32Array(n).fill(1) : fill(n, s, state),
    };
  };
  put("model.embed_tokens.weight", [o.vocab, C], std);
  for (let l = 0; l < o.layers; l++) {
    const p = `model.layers.${l}.`;
    put(`${p}input_layernorm.weight`, [C], "ones");
    put(`${p}self_attn.q_proj.weight`, [o.heads * hd, C], std);
    put(`${p}self_attn.k_proj.weight`, [o.kvHeads * hd, C], std);
    put(`${p}self_attn.v_proj.weight`, [o.kvHeads * hd, C], std);
    put(`${p}self_attn.o_proj.weight`, [C, o.heads * hd], std);
    if (type === "qwen2") {
      put(`${p}self_attn.q_proj.bias`, [o.heads * hd], std);
      put(`${p}self_attn.k_proj.bias`, [o.kvHeads * hd], std);
      put(`${p}self_attn.v_proj.bias`, [o.kvHeads * hd], std);
    }
    if (type === "qwen3") {
      put(`${p}self_attn.q_norm.weight`, [hd], "ones");
      put(`${p}self_attn.k_norm.weight`, [hd], "ones");
    }
    put(`${p}post_attention_layernorm.weight`, [C], "ones");
    put(`${p}mlp.gate_proj.weight`, [F, C], std);
    put(`${p}mlp.up_proj.weight`, [F, C], std);
    put(`${p}mlp.down_proj.weight`, [C, F], std);
  }
  put("model.norm.weight", [C], "ones");
  if (!tie) put("lm_head.weight", [o.vocab, C], std);
  const raw = {
    model_type: type,
    vocab_size: o.vocab,
    hidden_size: C,
    intermediate_size: F,
    num_hidden_layers: o.layers,
    num_attention_heads: o.heads,
    num_key_value_heads: o.kvHeads,
    max_position_embeddings: o.positions,
    rms_norm_eps: 1e-5,
    rope_theta: o.ropeTheta ?? 10000,
    ...(o.headDim ? { head_dim: o.headDim } : {}),
    ...(o.ropeScaling ? { rope_scaling: o.ropeScaling } : {}),
    tie_word_embeddings: tie,
    eos_token_id: 2,
    bos_token_id: 1,
  };
  return { config: raw, safetensors: encodeSafetensors(t, {}) };
}
