/**
 * GPT-2's training graph with the prefix as `past_key_values`: each block's forward is the
 * exporter's (`gpt2Layer`), so the exported decoder, this graph and inference read and compute a
 * checkpoint the same way; this file adds only the backward (read it bottom-up against the
 * forward). Only activation gradients flow (the base is frozen).
 *
 * @module
 */
import { gpt2LayerWeights, gpt2ModelWeights } from "../../model/mod.ts";
import { gpt2Layer } from "../../onnx/mod.ts";
import {
  attentionBackward,
  attentionForward,
  type AttentionSaved,
  type FamilyGraph,
  layerNorm,
  layerNormBackward,
  lossAndHeadBackward,
  type Past,
  type TrainGraph,
} from "./ops.ts";

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
  const g = t.g, c = t.c, d = c.hiddenSize, H = c.numHeads;
  const top = gpt2ModelWeights(c);
  const wte = w.get(top.tokenEmbedding);
  const embedded = g.op("Add", [
    g.op("Gather", [wte, t.x.inputIds], { axis: 0 }),
    g.op("Gather", [w.get(top.positionEmbedding), t.x.positionIds], { axis: 0 }),
  ]);
  let x = g.op("Reshape", [embedded, g.int64s([-1, d])]); // [M, d]
  // LayerNorm's statistics, by its output, for the backward.
  const stats = new Map<string, { mean: string; rstd: string }>();
  const ops = (l: number, keep: (a: { y: string; saved: AttentionSaved }) => void) => ({
    layerNorm: (v: string, weight: string, bias: string) => {
      const n = layerNorm(t, v, weight, bias);
      stats.set(n.y, n);
      return n.y;
    },
    attend: (q: string, k: string, v: string) => {
      const att = attentionForward(t, t.heads(q, H), t.heads(k, H), t.heads(v, H), past[l], P);
      keep(att);
      return att.y;
    },
  });
  const backward: ((dx: string) => string)[] = [];
  const dPast: Past[] = [];
  for (let l = 0; l < c.numLayers; l++) {
    const lw = gpt2LayerWeights(c, l);
    const layerIn = x;
    let saved: AttentionSaved | undefined;
    const f = gpt2Layer(g, c, w, l, layerIn, ops(l, (a) => saved = a.saved));
    x = f.out;
    backward[l] = (dx2) =>
      g.scope(`layer${l}.backward`, () => {
        const [wAttn, wProj, wFc, wOut] = [lw.qkv, lw.attnOut, lw.fc, lw.mlpOut].map((s) =>
          w.get(s)
        );
        // out = x1 + c_proj(gelu(c_fc(ln_2(x1))))
        const dFc = g.op("Mul", [t.linearBackward(dx2, wOut), geluGrad(t, f.fc, c.activation)]);
        const dx1 = g.op("Add", [
          dx2,
          layerNormBackward(
            t,
            f.x1,
            stats.get(f.n2)!,
            w.get(lw.ln2.weight),
            t.linearBackward(dFc, wFc),
          ),
        ]);
        // x1 = x + c_proj(attention(split(c_attn(ln_1(x)))))
        const a = attentionBackward(t, saved!, t.linearBackward(dx1, wProj), P, l > 0);
        dPast[l] = a.dPast;
        if (l === 0) return dx1; // nothing below layer 0's attention is trained
        const dqkv = g.op("Concat", [t.merge(a.dq!, H), t.merge(a.dk, H), t.merge(a.dv, H)], {
          axis: 1,
        });
        const dn1 = t.linearBackward(dqkv, wAttn);
        return g.op("Add", [
          dx1,
          layerNormBackward(t, layerIn, stats.get(f.n1)!, w.get(lw.ln1.weight), dn1),
        ]);
      });
  }
  const lnf = top.finalNorm;
  const nf = layerNorm(t, x, w.get(lnf.weight), w.get(lnf.bias));
  let dx = layerNormBackward(t, x, nf, w.get(lnf.weight), lossAndHeadBackward(t, nf.y, wte));
  for (let l = c.numLayers - 1; l >= 0; l--) dx = backward[l](dx);
  return dPast;
};
