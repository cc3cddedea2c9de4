/**
 * The training graph's families: GPT-2 and Llama blocks with the prefix as
 * `past_key_values`, each backward op right after the forward it undoes (read a block's
 * backward bottom-up against its forward). Weight names, config checks, GELU, RMSNorm and
 * RoPE are the exporter's (src/onnx/decoder_gpt2.ts, decoder_llama.ts), so the exported
 * decoder, this graph and inference read a checkpoint the same way.
 *
 * Only activation gradients flow (the base is frozen); each layer's prefix keys and values
 * collect theirs.
 *
 * @module
 */
import { PrefixEdgeError } from "../../errors/mod.ts";
import type { ModelConfig } from "../../model/mod.ts";
import { linear } from "../../onnx/decoder_common.ts";
import { checkGpt2Config, gelu } from "../../onnx/decoder_gpt2.ts";
import { rmsNorm, rope } from "../../onnx/decoder_llama.ts";
import type { DecoderWeights } from "../../onnx/decoder_weights.ts";
import { checkLlamaTrainable } from "../graph/llama.ts";
import {
  attentionBackward,
  attentionForward,
  layerNorm,
  layerNormBackward,
  lossAndHeadBackward,
  rmsNormBackward,
  type TrainGraph,
} from "./ops.ts";

type Past = { key: string; value: string };

/**
 * Forward and backward of one family down to the prefix: returns each layer's d(past).
 *
 * @param t the graph (inputs declared)
 * @param w the frozen weights
 * @param past per layer, the prefix's `[B, Hk, P, hd]` keys and values
 * @param P prefix length
 * @returns per layer, the gradient of the summed loss with respect to `past`
 */
export type FamilyGraph = (t: TrainGraph, w: DecoderWeights, past: Past[], P: number) => Past[];

/**
 * Refuse configs the ONNX training graph does not implement.
 *
 * @param c the model config
 * @throws {PrefixEdgeError} `UNSUPPORTED_MODEL` naming the field
 */
export function checkOrtTrainable(c: ModelConfig): void {
  if (c.family === "gpt2") checkGpt2Config(c);
  else if (c.family === "llama") checkLlamaTrainable(c);
  else {
    throw new PrefixEdgeError(
      "UNSUPPORTED_MODEL",
      `Cannot train a prefix on ${c.modelType}: trainable families are gpt2, llama`,
    );
  }
}

/** d gelu(x) / dx, for the tanh form (`gelu_new`) and the erf form. */
function geluGrad(t: TrainGraph, x: string, kind: string): string {
  const g = t.g;
  if (kind === "gelu") {
    // Φ(x) + x φ(x)
    const cdf = g.op("Mul", [
      g.op("Add", [g.op("Erf", [g.op("Mul", [x, t.f(Math.SQRT1_2)])]), t.f(1)]),
      t.f(0.5),
    ]);
    const pdf = g.op("Mul", [
      g.op("Exp", [g.op("Mul", [g.op("Mul", [x, x]), t.f(-0.5)])]),
      t.f(1 / Math.sqrt(2 * Math.PI)),
    ]);
    return g.op("Add", [cdf, g.op("Mul", [x, pdf])]);
  }
  // 0.5 (1 + tanh u) + 0.5 x (1 - tanh² u) k (1 + 3 c x²), u = k (x + c x³)
  const k = Math.sqrt(2 / Math.PI), c3 = 0.044715;
  const x2 = g.op("Mul", [x, x]);
  const u = g.op("Mul", [
    g.op("Mul", [x, g.op("Add", [g.op("Mul", [x2, t.f(c3)]), t.f(1)])]),
    t.f(k),
  ]);
  const th = g.op("Tanh", [u]);
  const left = g.op("Mul", [g.op("Add", [th, t.f(1)]), t.f(0.5)]);
  const sech2 = g.op("Sub", [t.f(1), g.op("Mul", [th, th])]);
  const du = g.op("Mul", [g.op("Add", [g.op("Mul", [x2, t.f(3 * c3)]), t.f(1)]), t.f(k)]);
  const right = g.op("Mul", [g.op("Mul", [g.op("Mul", [x, t.f(0.5)]), sech2]), du]);
  return g.op("Add", [left, right]);
}

/** GPT-2: learned positions, LayerNorm, fused qkv Conv1D `[in, out]`, GELU MLP, tied head. */
export const gpt2Graph: FamilyGraph = (t, w, past, P) => {
  const g = t.g, c = t.c, d = c.hiddenSize, m = c.intermediateSize, H = c.numHeads;
  const x0 = t.x;
  const wte = w.rows("transformer.wte.weight", [c.vocabSize, d]);
  const wpe = w.rows("transformer.wpe.weight", [c.maxPositions, d]);
  const embedded = g.op("Add", [
    g.op("Gather", [wte, x0.inputIds], { axis: 0 }),
    g.op("Gather", [wpe, x0.positionIds], { axis: 0 }),
  ]);
  let x = g.op("Reshape", [embedded, g.int64s([-1, d])]); // [M, d]
  const vec = (name: string, n: number) => w.vector(name, [n]);
  const mat = (name: string, i: number, o: number) => w.matrix(name, [i, o], false);
  const backward: ((dx: string) => string)[] = [];
  const dPast: Past[] = [];
  for (let l = 0; l < c.numLayers; l++) {
    const p = `transformer.h.${l}`;
    const layerIn = x;
    x = g.scope(`layer${l}`, () => {
      const ln1 = [vec(`${p}.ln_1.weight`, d), vec(`${p}.ln_1.bias`, d)] as const;
      const n1 = layerNorm(t, layerIn, ...ln1);
      const wAttn = mat(`${p}.attn.c_attn.weight`, d, 3 * d);
      const qkv = linear(g, n1.y, wAttn, vec(`${p}.attn.c_attn.bias`, 3 * d));
      const [q, k, v] = g.opN("Split", [qkv, g.int64s([d, d, d])], { axis: 1 }, { outputs: 3 });
      const att = attentionForward(t, t.heads(q, H), t.heads(k, H), t.heads(v, H), past[l]);
      const wProj = mat(`${p}.attn.c_proj.weight`, d, d);
      const x1 = g.op("Add", [layerIn, linear(g, att.y, wProj, vec(`${p}.attn.c_proj.bias`, d))]);
      const ln2 = [vec(`${p}.ln_2.weight`, d), vec(`${p}.ln_2.bias`, d)] as const;
      const n2 = layerNorm(t, x1, ...ln2);
      const wFc = mat(`${p}.mlp.c_fc.weight`, d, m);
      const fc = linear(g, n2.y, wFc, vec(`${p}.mlp.c_fc.bias`, m));
      const wOut = mat(`${p}.mlp.c_proj.weight`, m, d);
      const x2 = g.op("Add", [
        x1,
        linear(g, gelu(g, fc, c.activation), wOut, vec(`${p}.mlp.c_proj.bias`, d)),
      ]);
      backward[l] = (dx2) =>
        g.scope(`layer${l}.backward`, () => {
          // x2 = x1 + c_proj(gelu(c_fc(ln_2(x1))))
          const dFc = g.op("Mul", [t.linearBackward(dx2, wOut), geluGrad(t, fc, c.activation)]);
          const dx1 = g.op("Add", [
            dx2,
            layerNormBackward(t, x1, n2, ln2[0], t.linearBackward(dFc, wFc)),
          ]);
          // x1 = x + c_proj(attention(split(c_attn(ln_1(x)))))
          const a = attentionBackward(t, att.saved, t.linearBackward(dx1, wProj), P, l > 0);
          dPast[l] = a.dPast;
          if (l === 0) return dx1; // nothing below layer 0's attention is trained
          const dqkv = g.op("Concat", [t.merge(a.dq!, H), t.merge(a.dk, H), t.merge(a.dv, H)], {
            axis: 1,
          });
          return g.op("Add", [
            dx1,
            layerNormBackward(t, layerIn, n1, ln1[0], t.linearBackward(dqkv, wAttn)),
          ]);
        });
      return x2;
    });
  }
  const lnf = [vec("transformer.ln_f.weight", d), vec("transformer.ln_f.bias", d)] as const;
  const nf = layerNorm(t, x, ...lnf);
  let dx = layerNormBackward(t, x, nf, lnf[0], lossAndHeadBackward(t, nf.y, wte));
  for (let l = c.numLayers - 1; l >= 0; l--) dx = backward[l](dx);
  return dPast;
};

/**
 * Llama: RMSNorm, RoPE on q and k (not on the prefix; Llama 3's scaled frequencies come from
 * the exporter's table), grouped-query attention, SwiGLU; Qwen2's q/k/v biases and Qwen3's
 * per-head q/k norm.
 */
export const llamaGraph: FamilyGraph = (t, w, past, P) => {
  const g = t.g, c = t.c, d = c.hiddenSize, m = c.intermediateSize;
  const H = c.numHeads, Hk = c.numKvHeads, hd = c.headDim;
  const embed = w.rows("model.embed_tokens.weight", [c.vocabSize, d]);
  let x = g.op("Reshape", [
    g.op("Gather", [embed, t.x.inputIds], { axis: 0 }),
    g.int64s([-1, d]),
  ]);
  const { cos, sin } = rope(g, c, t.x.positionIds);
  const half = (v: string) =>
    g.opN("Split", [v, g.int64s([hd / 2, hd / 2])], { axis: -1 }, { outputs: 2 });
  // rotate_half: [a, b] -> [-b, a]; y = v cos + rotate_half(v) sin
  const rotate = (v: string) => {
    const [a, b] = half(v);
    const rot = g.op("Concat", [g.op("Neg", [b]), a], { axis: -1 });
    return g.op("Add", [g.op("Mul", [v, cos]), g.op("Mul", [rot, sin])]);
  };
  // its transpose: dv = dy cos + rotate_halfᵀ(dy sin), rotate_halfᵀ: [u1, u2] -> [u2, -u1]
  const rotateBackward = (dy: string) => {
    const [u1, u2] = half(g.op("Mul", [dy, sin]));
    const rotT = g.op("Concat", [u2, g.op("Neg", [u1])], { axis: -1 });
    return g.op("Add", [g.op("Mul", [dy, cos]), rotT]);
  };
  const mat = (name: string, o: number, i: number) => w.matrix(name, [o, i], true);
  const backward: ((dx: string) => string)[] = [];
  const dPast: Past[] = [];
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}`;
    const layerIn = x;
    x = g.scope(`layer${l}`, () => {
      const w1 = w.vector(`${p}.input_layernorm.weight`, [d]);
      const h = rmsNorm(g, layerIn, w1, c.normEps);
      const wq = mat(`${p}.self_attn.q_proj.weight`, H * hd, d);
      const wk = mat(`${p}.self_attn.k_proj.weight`, Hk * hd, d);
      const wv = mat(`${p}.self_attn.v_proj.weight`, Hk * hd, d);
      // Qwen2's q/k/v biases (their backward into the input is the identity).
      const bias = (n: string, o: number) =>
        c.qkvBias ? w.vector(`${p}.self_attn.${n}_proj.bias`, [o]) : undefined;
      // Qwen3's RMSNorm over hd on each q and k head, before RoPE (x kept for the backward).
      const qn = c.qkNorm ? w.vector(`${p}.self_attn.q_norm.weight`, [hd]) : undefined;
      const kn = c.qkNorm ? w.vector(`${p}.self_attn.k_norm.weight`, [hd]) : undefined;
      const qRaw = t.heads(linear(g, h, wq, bias("q", H * hd)), H);
      const kRaw = t.heads(linear(g, h, wk, bias("k", Hk * hd)), Hk);
      const q = rotate(qn ? rmsNorm(g, qRaw, qn, c.normEps) : qRaw);
      const k = rotate(kn ? rmsNorm(g, kRaw, kn, c.normEps) : kRaw);
      const v = t.heads(linear(g, h, wv, bias("v", Hk * hd)), Hk);
      const headNormBackward = (raw: string, weight: string | undefined, dy: string) =>
        weight ? rmsNormBackward(t, raw, weight, dy) : dy;
      const att = attentionForward(t, q, k, v, past[l]);
      const wo = mat(`${p}.self_attn.o_proj.weight`, d, H * hd);
      const x1 = g.op("Add", [layerIn, linear(g, att.y, wo)]);
      const w2 = w.vector(`${p}.post_attention_layernorm.weight`, [d]);
      const h2 = rmsNorm(g, x1, w2, c.normEps);
      const wg = mat(`${p}.mlp.gate_proj.weight`, m, d);
      const wu = mat(`${p}.mlp.up_proj.weight`, m, d);
      const wd = mat(`${p}.mlp.down_proj.weight`, d, m);
      const gate = linear(g, h2, wg), up = linear(g, h2, wu);
      const sg = g.op("Sigmoid", [gate]);
      const silu = g.op("Mul", [gate, sg]);
      const x2 = g.op("Add", [x1, linear(g, g.op("Mul", [silu, up]), wd)]);
      backward[l] = (dx2) =>
        g.scope(`layer${l}.backward`, () => {
          // x2 = x1 + down(silu(gate) * up), silu' = sg (1 + gate (1 - sg))
          const dAct = t.linearBackward(dx2, wd);
          const dUp = g.op("Mul", [dAct, silu]);
          const siluGrad = g.op("Mul", [
            sg,
            g.op("Add", [t.f(1), g.op("Mul", [gate, g.op("Sub", [t.f(1), sg])])]),
          ]);
          const dGate = g.op("Mul", [g.op("Mul", [dAct, up]), siluGrad]);
          const dh2 = g.op("Add", [t.linearBackward(dGate, wg), t.linearBackward(dUp, wu)]);
          const dx1 = g.op("Add", [dx2, rmsNormBackward(t, x1, w2, dh2)]);
          // x1 = x + o(attention(rope(q(h)), rope(k(h)), v(h))), h = rmsnorm(x)
          const a = attentionBackward(t, att.saved, t.linearBackward(dx1, wo), P, l > 0);
          dPast[l] = a.dPast;
          if (l === 0) return dx1;
          const dh = g.op("Add", [
            g.op("Add", [
              t.linearBackward(t.merge(headNormBackward(qRaw, qn, rotateBackward(a.dq!)), H), wq),
              t.linearBackward(t.merge(headNormBackward(kRaw, kn, rotateBackward(a.dk)), Hk), wk),
            ]),
            t.linearBackward(t.merge(a.dv, Hk), wv),
          ]);
          return g.op("Add", [dx1, rmsNormBackward(t, layerIn, w1, dh)]);
        });
      return x2;
    });
  }
  const wf = w.vector("model.norm.weight", [d]);
  const hf = rmsNorm(g, x, wf, c.normEps);
  const head = c.tieWordEmbeddings ? embed : w.rows("lm_head.weight", [c.vocabSize, d]);
  let dx = rmsNormBackward(t, x, wf, lossAndHeadBackward(t, hf, head));
  for (let l = c.numLayers - 1; l >= 0; l--) dx = backward[l](dx);
  return dPast;
};
