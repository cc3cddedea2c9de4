/**
 * The Llama family's training graph block (Llama, Qwen2, Qwen3, Llama 3) with the prefix as
 * `past_key_values`, each backward op right after the forward it undoes. Weight names, RMSNorm and
 * RoPE are the exporter's (src/onnx/decoder_llama.ts). Only activation gradients flow.
 *
 * @module
 */
import { linear } from "../../onnx/decoder_common.ts";
import { rmsNorm, rope } from "../../onnx/decoder_llama.ts";
import {
  attentionBackward,
  attentionForward,
  type FamilyGraph,
  lossAndHeadBackward,
  type Past,
  rmsNormBackward,
} from "./ops.ts";

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
