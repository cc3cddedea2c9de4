/**
 * The GPT-2 decoder (HF `GPT2LMHeadModel` names): learned positions,
 * pre-LayerNorm blocks, fused qkv `Conv1D` weights stored `[in, out]`,
 * `gelu_new` MLP, LM head tied to the token embedding.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import type { ModelConfig } from "../model/mod.ts";
import {
  additiveMask,
  attention,
  declareInputs,
  declareOutputs,
  fusedAttention,
  linear,
  lmHead,
  splitHeads,
  usesFusedAttention,
} from "./decoder_common.ts";
import type { DecoderWeights } from "./decoder_weights.ts";
import type { GraphBuilder } from "./graph_builder.ts";

/** Activations GPT-2 configs name, built from standard ops. */
const ACTIVATIONS = new Set(["gelu_new", "gelu_pytorch_tanh", "gelu"]);

/**
 * Refuse GPT-2 config fields this graph does not implement.
 *
 * @param c the model config
 * @throws {PrefixEdgeError} `UNSUPPORTED_MODEL` naming the field
 */
export function checkGpt2Config(c: ModelConfig): void {
  const refuse = (field: string, why: string): never => {
    throw new PrefixEdgeError("UNSUPPORTED_MODEL", `Cannot export ONNX: ${field} ${why}`);
  };
  if (!ACTIVATIONS.has(c.activation)) {
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

/**
 * Build the GPT-2 decoder graph.
 *
 * @param g the graph
 * @param c the model config (family gpt2)
 * @param w the weights
 * @param optimize use ORT's fused MultiHeadAttention
 */
export function buildGpt2Decoder(
  g: GraphBuilder,
  c: ModelConfig,
  w: DecoderWeights,
  optimize = false,
): void {
  checkGpt2Config(c);
  const d = c.hiddenSize, m = c.intermediateSize;
  const x0 = declareInputs(g, c);
  declareOutputs(g, c);
  const wte = w.rows("transformer.wte.weight", [c.vocabSize, d]);
  const wpe = w.rows("transformer.wpe.weight", [c.maxPositions, d]);
  let x = g.op("Add", [
    g.op("Gather", [wte, x0.inputIds], { axis: 0 }),
    g.op("Gather", [wpe, x0.positionIds], { axis: 0 }),
  ]);
  const mask = additiveMask(g, x0);
  const norm = (h: string, p: string) =>
    g.op("LayerNormalization", [h, w.vector(`${p}.weight`, [d]), w.vector(`${p}.bias`, [d])], {
      axis: -1,
      epsilon: { float: c.normEps },
    });
  for (let l = 0; l < c.numLayers; l++) {
    x = g.scope(`layer${l}`, () => {
      const p = `transformer.h.${l}`;
      const h = norm(x, `${p}.ln_1`);
      const qkv = linear(
        g,
        h,
        w.matrix(`${p}.attn.c_attn.weight`, [d, 3 * d], false),
        w.vector(`${p}.attn.c_attn.bias`, [3 * d]),
      );
      const [q, k, v] = g.opN("Split", [qkv, g.int64s([d, d, d])], { axis: 2 }, { outputs: 3 });
      const heads = (t: string) => splitHeads(g, t, c.numHeads, c.headDim);
      const y = usesFusedAttention(c, optimize)
        ? fusedAttention(g, c, { layer: l, q, k, v, past: x0.past[l], mask })
        : attention(g, c, {
          layer: l,
          q: heads(q),
          k: heads(k),
          v: heads(v),
          past: x0.past[l],
          mask,
        });
      const proj = (v: string, name: string, inDim: number) =>
        linear(
          g,
          v,
          w.matrix(`${p}.${name}.weight`, [inDim, d], false),
          w.vector(`${p}.${name}.bias`, [d]),
        );
      const x1 = g.op("Add", [x, proj(y, "attn.c_proj", d)]);
      const fc = linear(
        g,
        norm(x1, `${p}.ln_2`),
        w.matrix(`${p}.mlp.c_fc.weight`, [d, m], false),
        w.vector(`${p}.mlp.c_fc.bias`, [m]),
      );
      return g.op("Add", [x1, proj(gelu(g, fc, c.activation), "mlp.c_proj", m)]);
    });
  }
  lmHead(g, c, norm(x, "transformer.ln_f"), wte, x0.inputIds);
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
