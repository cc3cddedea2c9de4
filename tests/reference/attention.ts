/**
 * CPU reference of kernels/attention_forward.wgsl and kernels/attention_backward.wgsl:
 * causal attention over [prefix K/V ; token K/V] with a padding mask and grouped-query
 * attention (float64). H query heads share Hkv key/value heads (query head h reads KV head
 * h / (H / Hkv)). qkv: [B, T, Cq + 2D] (q | k | v, Cq = H*hd, D = Hkv*hd); kv: [P, S],
 * S = 2*L*D, with layer `layer`'s key at slot 2*layer and value at 2*layer + 1 (each D wide);
 * mask: [B, T].
 */

/** Shapes of one call. */
export interface AttentionDims {
  B: number;
  T: number;
  /** Query heads. */
  H: number;
  /** Key/value heads (default H). */
  Hkv?: number;
  hd: number;
  P: number;
  L: number;
  layer: number;
}

function keys(
  d: AttentionDims,
  qkv: ArrayLike<number>,
  kv: ArrayLike<number>,
  mask: ArrayLike<number>,
) {
  const Hkv = d.Hkv ?? d.H, G = d.H / Hkv;
  const Cq = d.H * d.hd, D = Hkv * d.hd, RS = Cq + 2 * D, S = 2 * d.L * D;
  /** Visible keys of query (b, t): [kind, index] with kind 0 = prefix p, 1 = token j. */
  const visible = (b: number, t: number) => {
    const out: [number, number][] = [];
    for (let p = 0; p < d.P; p++) out.push([0, p]);
    for (let j = 0; j <= t; j++) if (mask[b * d.T + j]) out.push([1, j]);
    return out;
  };
  /** Column of key (kv = 0) or value (kv = 1) channel c of query head h, in kv or a qkv row. */
  const prefixCol = (kvSlot: number, h: number, c: number) =>
    (2 * d.layer + kvSlot) * D + Math.floor(h / G) * d.hd + c;
  const tokenCol = (kvSlot: number, h: number, c: number) =>
    Cq + kvSlot * D + Math.floor(h / G) * d.hd + c;
  const k = (b: number, h: number, [kind, i]: [number, number], c: number) =>
    kind === 0 ? kv[i * S + prefixCol(0, h, c)] : qkv[(b * d.T + i) * RS + tokenCol(0, h, c)];
  const v = (b: number, h: number, [kind, i]: [number, number], c: number) =>
    kind === 0 ? kv[i * S + prefixCol(1, h, c)] : qkv[(b * d.T + i) * RS + tokenCol(1, h, c)];
  return { Cq, D, RS, S, visible, k, v, prefixCol, tokenCol };
}

function probs(
  d: AttentionDims,
  qkv: ArrayLike<number>,
  kx: ReturnType<typeof keys>,
  b: number,
  h: number,
  t: number,
) {
  const vis = kx.visible(b, t);
  const scale = 1 / Math.sqrt(d.hd);
  const s = vis.map((key) => {
    let dot = 0;
    for (let c = 0; c < d.hd; c++) {
      dot += qkv[(b * d.T + t) * kx.RS + h * d.hd + c] * kx.k(b, h, key, c);
    }
    return dot * scale;
  });
  const mx = Math.max(...s);
  const e = s.map((x) => Math.exp(x - mx));
  const z = e.reduce((a, x) => a + x, 0);
  return { vis, p: e.map((x) => x / z), lse: mx + Math.log(z) };
}

/** y: [B, T, Cq], lse: [B, H, T]. */
export function attentionForward(
  d: AttentionDims,
  qkv: ArrayLike<number>,
  kv: ArrayLike<number>,
  mask: ArrayLike<number>,
): { y: Float64Array; lse: Float64Array } {
  const kx = keys(d, qkv, kv, mask);
  const y = new Float64Array(d.B * d.T * kx.Cq);
  const lse = new Float64Array(d.B * d.H * d.T);
  for (let b = 0; b < d.B; b++) {
    for (let h = 0; h < d.H; h++) {
      for (let t = 0; t < d.T; t++) {
        const { vis, p, lse: l } = probs(d, qkv, kx, b, h, t);
        lse[(b * d.H + h) * d.T + t] = l;
        for (let c = 0; c < d.hd; c++) {
          let acc = 0;
          vis.forEach((key, i) => acc += p[i] * kx.v(b, h, key, c));
          y[(b * d.T + t) * kx.Cq + h * d.hd + c] = acc;
        }
      }
    }
  }
  return { y, lse };
}

/**
 * dqkv: [B, T, Cq + 2D] and dkv: [P, S] (only this layer's slots non-zero) for gradient dy
 * of y.
 */
export function attentionBackward(
  d: AttentionDims,
  qkv: ArrayLike<number>,
  kv: ArrayLike<number>,
  mask: ArrayLike<number>,
  dy: ArrayLike<number>,
): { dqkv: Float64Array; dkv: Float64Array } {
  const kx = keys(d, qkv, kv, mask);
  const { Cq, RS, S } = kx, scale = 1 / Math.sqrt(d.hd);
  const dqkv = new Float64Array(d.B * d.T * RS);
  const dkv = new Float64Array(d.P * S);
  for (let b = 0; b < d.B; b++) {
    for (let h = 0; h < d.H; h++) {
      for (let t = 0; t < d.T; t++) {
        const { vis, p } = probs(d, qkv, kx, b, h, t);
        const o = (b * d.T + t) * Cq + h * d.hd;
        const dp = vis.map((key) => {
          let s = 0;
          for (let c = 0; c < d.hd; c++) s += dy[o + c] * kx.v(b, h, key, c);
          return s;
        });
        const D = p.reduce((a, pi, i) => a + pi * dp[i], 0);
        vis.forEach((key, i) => {
          const ds = p[i] * (dp[i] - D) * scale;
          const [kind, j] = key;
          for (let c = 0; c < d.hd; c++) {
            const q = qkv[(b * d.T + t) * RS + h * d.hd + c];
            dqkv[(b * d.T + t) * RS + h * d.hd + c] += ds * kx.k(b, h, key, c);
            if (kind === 0) {
              dkv[j * S + kx.prefixCol(0, h, c)] += ds * q;
              dkv[j * S + kx.prefixCol(1, h, c)] += p[i] * dy[o + c];
            } else {
              dqkv[(b * d.T + j) * RS + kx.tokenCol(0, h, c)] += ds * q;
              dqkv[(b * d.T + j) * RS + kx.tokenCol(1, h, c)] += p[i] * dy[o + c];
            }
          }
        });
      }
    }
  }
  return { dqkv, dkv };
}
