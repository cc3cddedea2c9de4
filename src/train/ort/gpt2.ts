/**
 * GPT-2's training graph block with the prefix as `past_key_values`, each backward op right after
 * the forward it undoes (read the backward bottom-up against the forward). Weight names and GELU
 * are the exporter's (src/onnx/decoder_gpt2.ts), so the exported decoder, this graph and
 * inference read a checkpoint the same way. Only activation gradients flow (the base is frozen).
 *
 * @module
 */
import { linear } from "../../onnx/decoder_common.ts";
import { gelu } from "../../onnx/decoder_gpt2.ts";
import {
  attentionBackward,
  attentionForward,
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
