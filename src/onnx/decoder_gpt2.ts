/**
 * The GPT-2 decoder (HF `GPT2LMHeadModel` names): learned positions,
 * pre-LayerNorm blocks, fused qkv `Conv1D` weights stored `[in, out]`,
 * `gelu_new` MLP, LM head tied to the token embedding. The weights are the
 * family's (src/model/families/gpt2.ts); {@link gpt2Layer} is one block's
 * forward, which the ONNX Runtime training graph reuses and adds only its
 * backward to.
 *
 * @module
 */
import {
  checkGpt2Config,
  gpt2LayerWeights,
  gpt2ModelWeights,
  type LayerNormWeights,
  type ModelConfig,
} from "../model/mod.ts";
import {
  additiveMask,
  attention,
  declareInputs,
  declareOutputs,
  fusedAttention,
  linear,
  lmHead,
  rowLengths,
  splitHeads,
} from "./decoder_common.ts";
import type { DecoderWeights } from "./decoder_weights.ts";
import type { GraphBuilder } from "./graph_builder.ts";

/**
 * Build the GPT-2 decoder graph.
 *
 * @param g the graph
 * @param c the model config (family gpt2)
 * @param w the weights
 * @param optimize attend with ORT's GroupQueryAttention over rows of their own lengths
 */
export function buildGpt2Decoder(
  g: GraphBuilder,
  c: ModelConfig,
  w: DecoderWeights,
  optimize = false,
): void {
  checkGpt2Config(c, "Cannot export ONNX");
  const x0 = declareInputs(g, c);
  declareOutputs(g, c);
  const top = gpt2ModelWeights(c);
  const wte = w.get(top.tokenEmbedding);
  const wpe = w.get(top.positionEmbedding);
  let x = g.op("Add", [
    g.op("Gather", [wte, x0.inputIds], { axis: 0 }),
    g.op("Gather", [wpe, x0.positionIds], { axis: 0 }),
  ]);
  const lengths = optimize ? rowLengths(g, x0) : undefined;
  const mask = optimize ? "" : additiveMask(g, x0);
  const layerNorm = (h: string, weight: string, bias: string) =>
    g.op("LayerNormalization", [h, weight, bias], { axis: -1, epsilon: { float: c.normEps } });
  const heads = (t: string) => splitHeads(g, t, c.numHeads, c.headDim);
  for (let l = 0; l < c.numLayers; l++) {
    const past = x0.past[l];
    x = gpt2Layer(g, c, w, l, x, {
      layerNorm,
      attend: (q, k, v) =>
        lengths
          ? fusedAttention(g, c, { layer: l, q, k, v, past }, lengths)
          : attention(g, c, { layer: l, q: heads(q), k: heads(k), v: heads(v), past, mask }),
    }).out;
  }
  const lnf = top.finalNorm;
  lmHead(g, c, layerNorm(x, w.get(lnf.weight), w.get(lnf.bias)), wte, x0.inputIds);
}

/** How a graph normalizes and attends; the exporter and the training graph differ here. */
export interface Gpt2LayerOps {
  /** LayerNorm over the last axis (the training graph keeps its statistics). */
  layerNorm(x: string, weight: string, bias: string): string;
  /** Attention of the layer on q, k, v `[..., d]` each; returns `[..., d]`. */
  attend(q: string, k: string, v: string): string;
}

/** The values of one block's forward that a backward reads. */
export interface Gpt2LayerValues {
  /** `ln_1(x)`, `x + c_proj(attention)`, `ln_2(x1)` and `c_fc(ln_2(x1))` before GELU. */
  n1: string;
  y: string;
  x1: string;
  n2: string;
  fc: string;
  /** The block's output. */
  out: string;
}

/**
 * One GPT-2 block's forward: `x1 = x + c_proj(attend(split(c_attn(ln_1(x)))))`, then
 * `x1 + c_proj(gelu(c_fc(ln_2(x1))))`.
 *
 * @param g the graph
 * @param c the model config
 * @param w the weights
 * @param l the block
 * @param x the block's input `[..., d]`
 * @param ops how the graph normalizes and attends
 * @returns the forward's values (`out` is the block's output)
 */
export function gpt2Layer(
  g: GraphBuilder,
  c: ModelConfig,
  w: DecoderWeights,
  l: number,
  x: string,
  ops: Gpt2LayerOps,
): Gpt2LayerValues {
  const lw = gpt2LayerWeights(c, l), d = c.hiddenSize;
  const norm = (v: string, n: LayerNormWeights) => ops.layerNorm(v, w.get(n.weight), w.get(n.bias));
  return g.scope(`layer${l}`, () => {
    const n1 = norm(x, lw.ln1);
    const qkv = linear(g, n1, w.get(lw.qkv), w.get(lw.qkvBias));
    const [q, k, v] = g.opN("Split", [qkv, g.int64s([d, d, d])], { axis: -1 }, { outputs: 3 });
    const y = ops.attend(q, k, v);
    const x1 = g.op("Add", [x, linear(g, y, w.get(lw.attnOut), w.get(lw.attnOutBias))]);
    const n2 = norm(x1, lw.ln2);
    const fc = linear(g, n2, w.get(lw.fc), w.get(lw.fcBias));
    const mlp = linear(g, gelu(g, fc, c.activation), w.get(lw.mlpOut), w.get(lw.mlpOutBias));
    return { n1, y, x1, n2, fc, out: g.op("Add", [x1, mlp]) };
  });
}

/**
 * GELU: the tanh approximation (`gelu_new`) or the exact erf form.
 *
 * @param g the graph
 * @param x input
 * @param kind the config's activation name
 * @returns the value's name
 */
export function gelu(g: GraphBuilder, x: string, kind: string): string {
  const half = g.op("Mul", [x, g.floats([0.5], [])]);
  if (kind === "gelu") {
    const erf = g.op("Erf", [g.op("Mul", [x, g.floats([Math.SQRT1_2], [])])]);
    return g.op("Mul", [half, g.op("Add", [erf, g.floats([1], [])])]);
  }
  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  const cube = g.op("Mul", [g.op("Mul", [x, x]), x]);
  const inner = g.op("Add", [x, g.op("Mul", [cube, g.floats([0.044715], [])])]);
  const t = g.op("Tanh", [g.op("Mul", [inner, g.floats([Math.sqrt(2 / Math.PI)], [])])]);
  return g.op("Mul", [half, g.op("Add", [t, g.floats([1], [])])]);
}
