/**
 * The Llama family's training graph (Llama, Qwen2, Qwen3, Llama 3) with the prefix as
 * `past_key_values`: each layer's forward is the exporter's (`llamaLayer`), so a checkpoint is
 * read and computed the same way for training and inference; this file adds only the backward,
 * next to the forward it undoes. Only activation gradients flow.
 *
 * @module
 */
import { llamaLayerWeights, llamaModelWeights } from "../../model/mod.ts";
import { llamaLayer, rmsNorm, rope } from "../../onnx/mod.ts";
import {
  attentionBackward,
  attentionForward,
  type AttentionSaved,
  type FamilyGraph,
  lossAndHeadBackward,
  type Past,
  rmsNormBackward,
} from "./ops.ts";

/**
 * Llama: RMSNorm, RoPE on q and k (not on the prefix), grouped-query attention, SwiGLU; Qwen2's
 * q/k/v biases and Qwen3's per-head q/k norm.
 */
export const llamaGraph: FamilyGraph = (t, w, past, P) => {
  const g = t.g, c = t.c, d = c.hiddenSize, H = c.numHeads, Hk = c.numKvHeads, hd = c.headDim;
  const top = llamaModelWeights(c);
  const embed = w.get(top.embedding);
  let x = g.op("Reshape", [
    g.op("Gather", [embed, t.x.inputIds], { axis: 0 }),
    g.int64s([-1, d]),
  ]);
  const cosSin = rope(g, c, t.x.positionIds);
  const { cos, sin } = cosSin;
  // The transpose of rotate_half RoPE: dv = dy cos + rotate_halfᵀ(dy sin), [u1, u2] -> [u2, -u1].
  const rotateBackward = (dy: string) => {
    const [u1, u2] = g.opN("Split", [g.op("Mul", [dy, sin]), g.int64s([hd / 2, hd / 2])], {
      axis: -1,
    }, { outputs: 2 });
    const rotT = g.op("Concat", [u2, g.op("Neg", [u1])], { axis: -1 });
    return g.op("Add", [g.op("Mul", [dy, cos]), rotT]);
  };
  const backward: ((dx: string) => string)[] = [];
  const dPast: Past[] = [];
  for (let l = 0; l < c.numLayers; l++) {
    const lw = llamaLayerWeights(c, l);
    const layerIn = x;
    let saved: AttentionSaved | undefined;
    const f = llamaLayer(g, c, w, l, layerIn, cosSin, {
      heads: (v, n) => t.heads(v, n),
      attend: (q, k, v) => {
        const att = attentionForward(t, q, k, t.heads(v, Hk), past[l], P);
        saved = att.saved;
        return att.y;
      },
    });
    x = f.out;
    backward[l] = (dx2) =>
      g.scope(`layer${l}.backward`, () => {
        // out = x1 + down(silu(gate) * up), silu' = sg (1 + gate (1 - sg))
        const [wq, wk, wv, wo] = [lw.q, lw.k, lw.v, lw.o].map((s) => w.get(s));
        const [wg, wu, wd] = [lw.gate, lw.up, lw.down].map((s) => w.get(s));
        const dAct = t.linearBackward(dx2, wd);
        const dUp = g.op("Mul", [dAct, f.silu]);
        const sg = f.sigmoid;
        const siluGrad = g.op("Mul", [
          sg,
          g.op("Add", [t.f(1), g.op("Mul", [f.gate, g.op("Sub", [t.f(1), sg])])]),
        ]);
        const dGate = g.op("Mul", [g.op("Mul", [dAct, f.up]), siluGrad]);
        const dh2 = g.op("Add", [t.linearBackward(dGate, wg), t.linearBackward(dUp, wu)]);
        const dx1 = g.op("Add", [dx2, rmsNormBackward(t, f.x1, w.get(lw.postNorm), dh2)]);
        // x1 = x + o(attention(rope(q(h)), rope(k(h)), v(h))), h = rmsnorm(x)
        const a = attentionBackward(t, saved!, t.linearBackward(dx1, wo), P, l > 0);
        dPast[l] = a.dPast;
        if (l === 0) return dx1; // nothing below layer 0's attention is trained
        const headNormBackward = (raw: string, which: "q" | "k", dy: string) =>
          lw.qkNorm ? rmsNormBackward(t, raw, w.get(lw.qkNorm[which]), dy) : dy;
        const dh = g.op("Add", [
          g.op("Add", [
            t.linearBackward(t.merge(headNormBackward(f.qRaw, "q", rotateBackward(a.dq!)), H), wq),
            t.linearBackward(t.merge(headNormBackward(f.kRaw, "k", rotateBackward(a.dk)), Hk), wk),
          ]),
          t.linearBackward(t.merge(a.dv, Hk), wv),
        ]);
        return g.op("Add", [dx1, rmsNormBackward(t, layerIn, w.get(lw.inputNorm), dh)]);
      });
  }
  const hf = rmsNorm(g, x, w.get(top.finalNorm), c.normEps);
  let dx = rmsNormBackward(t, x, w.get(top.finalNorm), lossAndHeadBackward(t, hf, w.get(top.head)));
  for (let l = c.numLayers - 1; l >= 0; l--) dx = backward[l](dx);
  return dPast;
};
