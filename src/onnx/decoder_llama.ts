/**
 * The Llama-family decoder (HF `LlamaForCausalLM`, `Qwen2ForCausalLM` and
 * `Qwen3ForCausalLM` names): RMSNorm, rotate_half RoPE with `rope_theta`
 * (and Llama 3's `rope_scaling`) at the `position_ids` positions,
 * grouped-query attention (`num_key_value_heads`, an explicit `head_dim`),
 * q/k/v biases (Qwen2), a per-head q/k RMSNorm before RoPE (Qwen3), the
 * SwiGLU MLP, and a tied or separate lm_head. Other fields that change the
 * maths are refused by name ({@link checkLlamaConfig}).
 *
 * @module
 */
import { assertImplemented, type ModelConfig, ropeInverseFrequencies } from "../model/mod.ts";
import {
  additiveMask,
  attention,
  declareInputs,
  declareOutputs,
  fusedAttention,
  linear,
  lmHead,
  mergeHeads,
  splitHeads,
  usesFusedAttention,
} from "./decoder_common.ts";
import type { DecoderWeights } from "./decoder_weights.ts";
import type { GraphBuilder } from "./graph_builder.ts";

/**
 * Refuse Llama config fields this graph does not implement.
 *
 * @param c the model config
 * @throws {PrefixEdgeError} `UNSUPPORTED_MODEL` naming the field
 */
export function checkLlamaConfig(c: ModelConfig): void {
  assertImplemented(c, "Cannot export ONNX");
}

/**
 * RoPE inverse frequencies `1 / theta^(2i / hd)`, rounded step by step to
 * float32 as PyTorch computes them in float32; with Llama 3's scaling, the
 * shared float64 computation rounded once.
 *
 * @param c the model config
 * @returns `[hd / 2]`
 */
export function inverseFrequencies(c: ModelConfig): Float32Array {
  if (c.ropeScaling) return Float32Array.from(ropeInverseFrequencies(c));
  const hd = c.headDim, theta = Math.fround(c.ropeTheta ?? 10000);
  const inv = new Float32Array(hd / 2);
  for (let i = 0; i < hd / 2; i++) {
    const e = Math.fround(Math.fround(2 * i) / hd);
    inv[i] = Math.fround(1 / Math.fround(theta ** e));
  }
  return inv;
}

/**
 * Build the Llama decoder graph.
 *
 * @param g the graph
 * @param c the model config (family llama)
 * @param w the weights
 * @param optimize use ORT's fused MultiHeadAttention (when H = Hk)
 */
export function buildLlamaDecoder(
  g: GraphBuilder,
  c: ModelConfig,
  w: DecoderWeights,
  optimize = false,
): void {
  checkLlamaConfig(c);
  const d = c.hiddenSize, m = c.intermediateSize, H = c.numHeads, Hk = c.numKvHeads;
  const hd = c.headDim;
  const x0 = declareInputs(g, c);
  declareOutputs(g, c);
  const embed = w.rows("model.embed_tokens.weight", [c.vocabSize, d]);
  let x = g.op("Gather", [embed, x0.inputIds], { axis: 0 });
  const mask = additiveMask(g, x0);
  const { cos, sin } = rope(g, c, x0.positionIds);
  const rotate = (t: string) => {
    // rotate_half: [x1, x2] -> [-x2, x1], then t cos + rotate_half(t) sin
    const [a, b] = g.opN("Split", [t, g.int64s([hd / 2, hd / 2])], { axis: -1 }, { outputs: 2 });
    const rot = g.op("Concat", [g.op("Neg", [b]), a], { axis: -1 });
    return g.op("Add", [g.op("Mul", [t, cos]), g.op("Mul", [rot, sin])]);
  };
  const proj = (h: string, name: string, out: number, inDim: number, bias = false) =>
    linear(
      g,
      h,
      w.matrix(`${name}.weight`, [out, inDim], true),
      bias ? w.vector(`${name}.bias`, [out]) : undefined,
    );
  // Qwen3: an RMSNorm over hd on each head [B, heads, T, hd], before RoPE.
  const headNorm = (t: string, name: string) =>
    c.qkNorm ? rmsNorm(g, t, w.vector(`${name}.weight`, [hd]), c.normEps) : t;
  for (let l = 0; l < c.numLayers; l++) {
    x = g.scope(`layer${l}`, () => {
      const p = `model.layers.${l}`;
      const h = rmsNorm(g, x, w.vector(`${p}.input_layernorm.weight`, [d]), c.normEps);
      const a = `${p}.self_attn`, b = c.qkvBias;
      const q = headNorm(splitHeads(g, proj(h, `${a}.q_proj`, H * hd, d, b), H, hd), `${a}.q_norm`);
      const k = headNorm(
        splitHeads(g, proj(h, `${a}.k_proj`, Hk * hd, d, b), Hk, hd),
        `${a}.k_norm`,
      );
      const v = proj(h, `${a}.v_proj`, Hk * hd, d, b);
      const y = usesFusedAttention(c, optimize)
        ? fusedAttention(g, c, {
          layer: l,
          q: mergeHeads(g, rotate(q), H * hd),
          k: mergeHeads(g, rotate(k), Hk * hd),
          v,
          past: x0.past[l],
          mask,
        })
        : attention(g, c, {
          layer: l,
          q: rotate(q),
          k: rotate(k),
          v: splitHeads(g, v, Hk, hd),
          past: x0.past[l],
          mask,
        });
      const x1 = g.op("Add", [x, proj(y, `${a}.o_proj`, d, H * hd)]);
      const h2 = rmsNorm(g, x1, w.vector(`${p}.post_attention_layernorm.weight`, [d]), c.normEps);
      const gate = proj(h2, `${p}.mlp.gate_proj`, m, d);
      const up = proj(h2, `${p}.mlp.up_proj`, m, d);
      const act = g.op("Mul", [g.op("Mul", [gate, g.op("Sigmoid", [gate])]), up]); // silu(gate) * up
      return g.op("Add", [x1, proj(act, `${p}.mlp.down_proj`, d, m)]);
    });
  }
  const head = c.tieWordEmbeddings ? embed : w.rows("lm_head.weight", [c.vocabSize, d]);
  lmHead(g, c, rmsNorm(g, x, w.vector("model.norm.weight", [d]), c.normEps), head, x0.inputIds);
}

/**
 * RMSNorm over the last axis: `w * x / sqrt(mean(x^2) + eps)`.
 *
 * @param g the graph
 * @param x input
 * @param weight `[width]`
 * @param eps epsilon
 * @returns the value's name
 */
export function rmsNorm(g: GraphBuilder, x: string, weight: string, eps: number): string {
  const ms = g.op("ReduceMean", [g.op("Mul", [x, x])], { axes: [-1], keepdims: 1 });
  const rms = g.op("Sqrt", [g.op("Add", [ms, g.floats([eps], [])])]);
  return g.op("Mul", [g.op("Div", [x, rms]), weight]);
}

/** cos and sin `[B, 1, T, hd]` at the given positions (shared by every layer). */
export function rope(
  g: GraphBuilder,
  c: ModelConfig,
  positionIds: string,
): { cos: string; sin: string } {
  return g.scope("rope", () => {
    const pos = g.op("Unsqueeze", [g.op("Cast", [positionIds], { to: 1 }), g.int64s([2])]);
    const f = g.op("Mul", [pos, g.floats(inverseFrequencies(c))]); // [B, T, hd/2]
    const emb = g.op("Unsqueeze", [g.op("Concat", [f, f], { axis: -1 }), g.int64s([1])]);
    return { cos: g.op("Cos", [emb]), sin: g.op("Sin", [emb]) };
  });
}
