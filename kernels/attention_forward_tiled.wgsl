// attention_forward_tiled: the hardware kernel set's attention_forward (same maths, bindings,
// uniform and outputs; see kernels/attention_forward.wgsl): causal grouped-query attention over
// [prefix K/V ; token K/V] with the padding mask, online softmax, saving lse. Flash-attention
// style: a workgroup owns 64 consecutive query rows of one (b, h); the keys and values are
// staged through workgroup memory 16 keys at a time and shared by all 64 rows, so each key is
// read from global memory once per 64 queries instead of once per query, and no [T, P + T]
// score matrix exists anywhere (each row keeps a running max, sum and output accumulator).
//
// Bindings (group 0): as attention_forward.wgsl
//   0 uniform    u: { B, T, H, hd, P, Cq, S, slotK, slotV, scale, G, D }
//   1 read       qkv: [B, T, Cq + 2D] f32     2 read kv: [P, S] f32     3 read mask: [B, T] u32
//   4 read_write y: [B, T, Cq] f32           5 read_write lse: [B, H, T] f32
// Dispatch: (ceil(T / 64), B * H, 1), workgroup 64; invocation lid owns query t = 64 wg.x + lid.
// Workgroup memory: 2 * 16 * 128 f32 (K and V tiles) = 16 KiB, and 16 key flags (within
// HARDWARE_WORKGROUP_BYTES, which attention_backward_tiled sets).
// Assumptions: hd <= 128 (MAX_HD; checked on the host); P + T >= 1.
// On llvmpipe this kernel is correct but slow, and takes ~50 s to compile on a cold shader
// cache (the private q and acc arrays live across barriers, which a CPU backend implements as
// coroutine switches); Mesa's on-disk cache makes later runs start at once.

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
const QT = 64u; // query rows per workgroup
const KT = 16u; // keys per stage

var<workgroup> ks: array<f32, 2048>; // [KT, MAX_HD]
var<workgroup> vs: array<f32, 2048>; // [KT, MAX_HD]
var<workgroup> live: array<u32, 16>; // key j0 + jj is real (prefix, or an unmasked token)

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let bh = wg.y;
  let h = bh % u.H;
  let b = bh / u.H;
  let hk = h / u.G;
  let t = wg.x * QT + lid;
  let valid = t < u.T;
  let RS = u.Cq + 2u * u.D; // qkv row stride

  var q: array<f32, MAX_HD>;
  var acc: array<f32, MAX_HD>;
  if (valid) {
    let qBase = (b * u.T + t) * RS + h * u.hd;
    for (var i = 0u; i < u.hd; i++) {
      q[i] = qkv[qBase + i] * u.scale;
      acc[i] = 0.0;
    }
  }
  var mx = -3.0e38;
  var den = 0.0;
  // Keys any row of this workgroup can see (uniform across the workgroup, for the barriers).
  let lastT = min(u.T, wg.x * QT + QT);
  let nKeys = u.P + lastT;
  for (var j0 = 0u; j0 < nKeys; j0 += KT) {
    // Stage KT keys and values: 64 invocations stride over KT * hd elements.
    for (var e = lid; e < KT * u.hd; e += QT) {
      let jj = e / u.hd;
      let i = e % u.hd;
      let j = j0 + jj;
      var kval = 0.0;
      var vval = 0.0;
      if (j < u.P) {
        kval = kv[j * u.S + u.slotK + hk * u.hd + i];
        vval = kv[j * u.S + u.slotV + hk * u.hd + i];
      } else if (j < nKeys) {
        let kBase = (b * u.T + (j - u.P)) * RS + u.Cq + hk * u.hd;
        kval = qkv[kBase + i];
        vval = qkv[kBase + u.D + i];
      }
      ks[jj * MAX_HD + i] = kval;
      vs[jj * MAX_HD + i] = vval;
    }
    if (lid < KT) {
      let j = j0 + lid;
      var ok = 0u;
      if (j < u.P) {
        ok = 1u;
      } else if (j < nKeys) {
        ok = select(0u, 1u, mask[b * u.T + (j - u.P)] != 0u);
      }
      live[lid] = ok;
    }
    workgroupBarrier();
    // The keys of this stage (the last one may be partial).
    let kn = min(KT, nKeys - j0);
    if (valid) {
      for (var jj = 0u; jj < kn; jj++) {
        let j = j0 + jj;
        // Causal: token key tj = j - P is visible to query t when tj <= t.
        if (live[jj] == 0u || j > u.P + t) { continue; }
        var s = 0.0;
        for (var i = 0u; i < u.hd; i++) { s += q[i] * ks[jj * MAX_HD + i]; }
        let newMx = max(mx, s);
        let corr = exp(mx - newMx);
        let p = exp(s - newMx);
        den = den * corr + p;
        for (var i = 0u; i < u.hd; i++) { acc[i] = acc[i] * corr + p * vs[jj * MAX_HD + i]; }
        mx = newMx;
      }
    }
    workgroupBarrier();
  }
  if (!valid) { return; }
  let yBase = (b * u.T + t) * u.Cq + h * u.hd;
  let inv = 1.0 / den;
  for (var i = 0u; i < u.hd; i++) { y[yBase + i] = acc[i] * inv; }
  lse[(b * u.H + h) * u.T + t] = mx + log(den);
}
