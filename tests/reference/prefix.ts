/**
 * CPU reference of kernels/prefix_forward.wgsl and kernels/prefix_backward.wgsl (float64).
 * Parameters by name as in DESIGN.md: E [P,K], W1 [K,m], b1 [m], W2 [m,S], b2 [S], a [P].
 */

/** The method and shapes. */
export interface PrefixDims {
  P: number;
  S: number;
  m: number;
  K: number;
  reparam: "none" | "mlp" | "residual";
  gate: boolean;
}

type Params = Record<string, ArrayLike<number>>;

/** hidden [P,m], R [P,S] (before the gate), kv [P,S]. */
export function prefixForward(d: PrefixDims, x: Params) {
  const { P, S, m, K } = d;
  const hidden = new Float64Array(P * m);
  const R = new Float64Array(P * S);
  const kv = new Float64Array(P * S);
  for (let p = 0; p < P; p++) {
    const g = d.gate ? 1 / (1 + Math.exp(-x.a[p])) : 1;
    if (d.reparam !== "none") {
      for (let j = 0; j < m; j++) {
        let z = x.b1[j];
        for (let k = 0; k < K; k++) z += x.E[p * K + k] * x.W1[k * m + j];
        hidden[p * m + j] = Math.tanh(z);
      }
    }
    for (let s = 0; s < S; s++) {
      let r = 0;
      if (d.reparam === "none") r = x.E[p * S + s];
      else {
        r = x.b2[s];
        for (let j = 0; j < m; j++) r += hidden[p * m + j] * x.W2[j * S + s];
        if (d.reparam === "residual") r += x.E[p * S + s];
      }
      R[p * S + s] = r;
      kv[p * S + s] = g * r;
    }
  }
  return { hidden, R, kv };
}

/** Gradients of the parameters for d(loss)/d kv = scale * dkv. */
export function prefixBackward(
  d: PrefixDims,
  x: Params,
  dkv: ArrayLike<number>,
  scale: number,
): Record<string, Float64Array> {
  const { P, S, m, K } = d;
  const { hidden, R } = prefixForward(d, x);
  const out: Record<string, Float64Array> = { E: new Float64Array(P * K) };
  const dR = new Float64Array(P * S);
  if (d.gate) out.a = new Float64Array(P);
  for (let p = 0; p < P; p++) {
    const g = d.gate ? 1 / (1 + Math.exp(-x.a[p])) : 1;
    let acc = 0;
    for (let s = 0; s < S; s++) {
      const dk = scale * dkv[p * S + s];
      dR[p * S + s] = g * dk;
      acc += dk * R[p * S + s];
    }
    if (d.gate) out.a[p] = g * (1 - g) * acc;
  }
  if (d.reparam !== "none") {
    out.W2 = new Float64Array(m * S);
    out.b2 = new Float64Array(S);
    out.W1 = new Float64Array(K * m);
    out.b1 = new Float64Array(m);
    const dz = new Float64Array(P * m);
    for (let p = 0; p < P; p++) {
      for (let s = 0; s < S; s++) {
        out.b2[s] += dR[p * S + s];
        for (let j = 0; j < m; j++) out.W2[j * S + s] += hidden[p * m + j] * dR[p * S + s];
      }
      for (let j = 0; j < m; j++) {
        let acc = 0;
        for (let s = 0; s < S; s++) acc += dR[p * S + s] * x.W2[j * S + s];
        const h = hidden[p * m + j];
        dz[p * m + j] = acc * (1 - h * h);
        out.b1[j] += dz[p * m + j];
        for (let k = 0; k < K; k++) {
          out.W1[k * m + j] += x.E[p * K + k] * dz[p * m + j];
          out.E[p * K + k] += dz[p * m + j] * x.W1[k * m + j];
        }
      }
    }
  }
  if (d.reparam !== "mlp") {
    for (let i = 0; i < P * S; i++) out.E[i] += dR[i];
  }
  return out;
}
