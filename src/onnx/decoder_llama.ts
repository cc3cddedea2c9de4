/**
 * The Llama-family decoder (HF `LlamaForCausalLM`, `Qwen2ForCausalLM` and
 * `Qwen3ForCausalLM` names): RMSNorm, rotate_half RoPE with `rope_theta`
 * (and Llama 3's `rope_scaling`) at the `position_ids` positions,
 * grouped-query attention (`num_key_value_heads`, an explicit `head_dim`),
 * q/k/v biases (Qwen2), a per-head q/k RMSNorm before RoPE (Qwen3), the
 * SwiGLU MLP, and a tied or separate lm_head. The weights are the family's
 * (src/model/families/llama.ts); {@link llamaLayer} is one layer's forward,
 * which the ONNX Runtime training graph reuses and adds only its backward to.
 *
 * @module
 */
import {
  checkLlamaConfig,
  llamaLayerWeights,
  llamaModelWeights,
  type ModelConfig,
  ropeInverseFrequenciesF32,
} from "../model/mod.ts";
import {
  additiveMask,
  attention,
  declareInputs,
  declareOutputs,
  fusedAttention,
  linear,
  lmHead,
  mergeHeads,
  rowLengths,
  splitHeads,
} from "./decoder_common.ts";
import type { DecoderWeights } from "./decoder_weights.ts";
import type { GraphBuilder } from "./graph_builder.ts";

/**
 * Build the Llama decoder graph.
 *
 * @param g the graph
 * @param c the model config (family llama)
 * @param w the weights
 * @param optimize attend with ORT's GroupQueryAttention over rows of their own lengths
 */
export function buildLlamaDecoder(
  g: GraphBuilder,
  c: ModelConfig,
  w: DecoderWeights,
  optimize = false,
): void {
  checkLlamaConfig(c, "Cannot export ONNX");
  const H = c.numHeads, Hk = c.numKvHeads, hd = c.headDim;
  const x0 = declareInputs(g, c);
  declareOutputs(g, c);
  const top = llamaModelWeights(c);
  const embed = w.get(top.embedding);
  let x = g.op("Gather", [embed, x0.inputIds], { axis: 0 });
  const lengths = optimize ? rowLengths(g, x0) : undefined;
  const mask = optimize ? "" : additiveMask(g, x0);
  const cosSin = rope(g, c, x0.positionIds);
  for (let l = 0; l < c.numLayers; l++) {
    const past = x0.past[l];
    x = llamaLayer(g, c, w, l, x, cosSin, {
      heads: (t, n) => splitHeads(g, t, n, hd),
      attend: (q, k, v) =>
        lengths
          ? fusedAttention(g, c, {
            layer: l,
            q: mergeHeads(g, q, H * hd),
            k: mergeHeads(g, k, Hk * hd),
            v,
            past,
          }, lengths)
          : attention(g, c, { layer: l, q, k, v: splitHeads(g, v, Hk, hd), past, mask }),
    }).out;
  }
  const head = w.get(top.head);
  lmHead(g, c, rmsNorm(g, x, w.get(top.finalNorm), c.normEps), head, x0.inputIds);
}

/** How a graph lays out heads and attends; the exporter and the training graph differ here. */
export interface LlamaLayerOps {
  /** `[..., n * hd]` -> `[B, n, T, hd]`. */
  heads(x: string, n: number): string;
  /**
   * Attention of the layer: q `[B, H, T, hd]` and k `[B, Hk, T, hd]` after RoPE, v the
   * projection `[..., Hk * hd]`; returns `[..., H * hd]`.
   */
  attend(q: string, k: string, v: string): string;
}

/** The values of one layer's forward that a backward reads. */
export interface LlamaLayerValues {
  /** `input_layernorm(x)`. */
  h: string;
  /** Per-head q and k before the q/k norm and RoPE. */
  qRaw: string;
  kRaw: string;
  /** The attention output `[..., H * hd]`. */
  y: string;
  /** `x + o_proj(y)`. */
  x1: string;
  /** The MLP's gate and up projections, sigmoid(gate) and silu(gate). */
  gate: string;
  up: string;
  sigmoid: string;
  silu: string;
  /** The layer's output. */
  out: string;
}

/**
 * One Llama layer's forward: `x1 = x + o(attend(rope(q(h)), rope(k(h)), v(h)))` with
 * `h = rmsnorm(x)`, then `x1 + down(silu(gate(h2)) * up(h2))` with `h2 = rmsnorm(x1)`.
 *
 * @param g the graph
 * @param c the model config
 * @param w the weights
 * @param l the layer
 * @param x the layer's input `[..., d]`
 * @param cosSin RoPE's cos and sin (from {@link rope})
 * @param ops how heads are laid out and attention is computed
 * @returns the forward's values (`out` is the layer's output)
 */
export function llamaLayer(
  g: GraphBuilder,
  c: ModelConfig,
  w: DecoderWeights,
  l: number,
  x: string,
  cosSin: { cos: string; sin: string },
  ops: LlamaLayerOps,
): LlamaLayerValues {
  const lw = llamaLayerWeights(c, l);
  const H = c.numHeads, Hk = c.numKvHeads;
  return g.scope(`layer${l}`, () => {
    const h = rmsNorm(g, x, w.get(lw.inputNorm), c.normEps);
    const bias = lw.qkvBias;
    const qRaw = ops.heads(linear(g, h, w.get(lw.q), bias && w.get(bias.q)), H);
    // Qwen3: an RMSNorm over hd on each head, before RoPE.
    const headNorm = (t: string, which: "q" | "k") =>
      lw.qkNorm ? rmsNorm(g, t, w.get(lw.qkNorm[which]), c.normEps) : t;
    const qn = headNorm(qRaw, "q");
    const kRaw = ops.heads(linear(g, h, w.get(lw.k), bias && w.get(bias.k)), Hk);
    const kn = headNorm(kRaw, "k");
    const v = linear(g, h, w.get(lw.v), bias && w.get(bias.v));
    const y = ops.attend(rotateHalf(g, c, qn, cosSin), rotateHalf(g, c, kn, cosSin), v);
    const x1 = g.op("Add", [x, linear(g, y, w.get(lw.o))]);
    const h2 = rmsNorm(g, x1, w.get(lw.postNorm), c.normEps);
    const gate = linear(g, h2, w.get(lw.gate));
    const up = linear(g, h2, w.get(lw.up));
    const sigmoid = g.op("Sigmoid", [gate]);
    const silu = g.op("Mul", [gate, sigmoid]);
    const out = g.op("Add", [x1, linear(g, g.op("Mul", [silu, up]), w.get(lw.down))]);
    return { h, qRaw, kRaw, y, x1, gate, up, sigmoid, silu, out };
  });
}

/**
 * RoPE in rotate_half form: `t cos + rotate_half(t) sin`, rotate_half: `[a, b] -> [-b, a]`.
 *
 * @param g the graph
 * @param c the model config
 * @param t per-head values `[B, heads, T, hd]`
 * @param cosSin from {@link rope}
 * @returns the value's name
 */
export function rotateHalf(
  g: GraphBuilder,
  c: ModelConfig,
  t: string,
  cosSin: { cos: string; sin: string },
): string {
  const hd = c.headDim;
  const [a, b] = g.opN("Split", [t, g.int64s([hd / 2, hd / 2])], { axis: -1 }, { outputs: 2 });
  const rot = g.op("Concat", [g.op("Neg", [b]), a], { axis: -1 });
  return g.op("Add", [g.op("Mul", [t, cosSin.cos]), g.op("Mul", [rot, cosSin.sin])]);
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
    const f = g.op("Mul", [pos, g.floats(ropeInverseFrequenciesF32(c))]); // [B, T, hd/2]
    const emb = g.op("Unsqueeze", [g.op("Concat", [f, f], { axis: -1 }), g.int64s([1])]);
    return { cos: g.op("Cos", [emb]), sin: g.op("Sin", [emb]) };
  });
}
