// attention_forward: causal multi-head attention over [prefix K/V ; token K/V] for one layer,
// with grouped-query attention: H query heads share Hkv = H / G key/value heads, query head h
// reading KV head hk = h / G (GPT-2: G = 1). For query row (b, h, t), keys are the P prefix
// keys (always visible: the mask covers the prefix with ones) then the token keys j <= t with
// mask[b, j] = 1:
//   s_j = scale * q·k_j,  y = sum_j softmax(s)_j v_j,  lse = log sum_j exp(s_j).
// Online softmax (running max and sum), so nothing of size T x (P + T) is stored; the
// backward pass recomputes probabilities from lse.
//
// Bindings (group 0):
//   0 uniform    u: { B, T, H, hd, P, Cq, S, slotK, slotV, scale, G, D }
//   1 read       qkv: [B, T, Cq + 2D] f32, Cq = H*hd, D = Hkv*hd: q | k | v, query head h at
//                h*hd, key head hk at Cq + hk*hd, value head hk at Cq + D + hk*hd
//   2 read       kv: [P, S] f32, the folded prefix; layer l's key at kv[p*S + slotK + hk*hd + i]
//                with slotK = 2l*D, its value at slotV = (2l+1)*D (DESIGN.md §1 layout)
//   3 read       mask: [B, T] u32 (1 = real token, 0 = padding)
//   4 read_write y: [B, T, Cq] f32 (heads merged back: head h at columns h*hd..)
//   5 read_write lse: [B, H, T] f32
// Dispatch: (ceil(B*H*T / 64), 1, 1), workgroup 64; one thread per query row.
// Assumptions: hd <= 128 (MAX_HD; checked on the host); P + T >= 1.

struct Uniforms {
  B: u32, T: u32, H: u32, hd: u32,
  P: u32, Cq: u32, S: u32, slotK: u32,
  slotV: u32, scale: f32, G: u32, D: u32,
}

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> kv: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<u32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;

const MAX_HD = 128u;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = gid.x;
  if (row >= u.B * u.H * u.T) { return; }
  let t = row % u.T;
  let h = (row / u.T) % u.H;
  let b = row / (u.T * u.H);
  let RS = u.Cq + 2u * u.D; // qkv row stride
  let hk = h / u.G;
  let qBase = (b * u.T + t) * RS + h * u.hd;

  var q: array<f32, MAX_HD>;
  var acc: array<f32, MAX_HD>;
  for (var i = 0u; i < u.hd; i++) {
    q[i] = qkv[qBase + i] * u.scale;
    acc[i] = 0.0;
  }
  var mx = -3.0e38;
  var den = 0.0;
  let nKeys = u.P + t + 1u;
  for (var j = 0u; j < nKeys; j++) {
    var kBase: u32;
    var vBase: u32;
    var fromPrefix = j < u.P;
    if (fromPrefix) {
      kBase = j * u.S + u.slotK + hk * u.hd;
      vBase = j * u.S + u.slotV + hk * u.hd;
    } else {
      let tj = j - u.P;
      if (mask[b * u.T + tj] == 0u) { continue; }
      kBase = (b * u.T + tj) * RS + u.Cq + hk * u.hd;
      vBase = kBase + u.D;
    }
    var s = 0.0;
    if (fromPrefix) {
      for (var i = 0u; i < u.hd; i++) { s += q[i] * kv[kBase + i]; }
    } else {
      for (var i = 0u; i < u.hd; i++) { s += q[i] * qkv[kBase + i]; }
    }
    let newMx = max(mx, s);
    let corr = exp(mx - newMx);
    let p = exp(s - newMx);
    den = den * corr + p;
    if (fromPrefix) {
      for (var i = 0u; i < u.hd; i++) { acc[i] = acc[i] * corr + p * kv[vBase + i]; }
    } else {
      for (var i = 0u; i < u.hd; i++) { acc[i] = acc[i] * corr + p * qkv[vBase + i]; }
    }
    mx = newMx;
  }
  let yBase = (b * u.T + t) * u.Cq + h * u.hd;
  let inv = 1.0 / den;
  for (var i = 0u; i < u.hd; i++) { y[yBase + i] = acc[i] * inv; }
  lse[(b * u.H + h) * u.T + t] = mx + log(den);
}
