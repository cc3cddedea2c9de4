// attention_tiled: the hardware kernel set's attention, forward and backward (same maths,
// uniform and outputs as kernels/attention_forward.wgsl and kernels/attention_backward.wgsl, where
// the formulas are): causal grouped-query attention over [prefix K/V ; token K/V] with the
// padding mask. Flash-attention style: no [T, P + T] score or probability matrix exists anywhere,
// and every operand is staged through workgroup memory once per tile of 64 rows instead of being
// read from global memory once per row. Entry points:
//   forward:       a workgroup owns 64 consecutive queries of one (b, h); keys and values are
//                  staged 16 at a time and shared by the 64 rows; each row keeps a running max,
//                  sum and output accumulator (online softmax), and saves lse.
// Then the backward, in this order (probabilities recomputed from lse):
//   query_grad:    as forward, 64 queries of one (b, h) share each staged tile of keys and
//                  values. Writes Dsum = dO·y and dq into dqkv[..., 0:Cq].
//   key_grad:      a workgroup owns 64 consecutive keys of one (b, hk) on row b's key axis
//                  [P prefix keys ; T token keys]; the G query heads' queries, output
//                  gradients, lse and Dsum are staged 16 queries at a time. A token key writes
//                  dqkv[..., Cq:Cq+2D] (zero for a padded key, which nothing attends to). A
//                  prefix key is shared by every row of the batch, so row b writes its share
//                  to partial[b] instead of racing other workgroups on dkv.
//   prefix_reduce: dkv[p, slots of this layer] += sum over b of partial[b, p] (adds, so
//                  micro-batches accumulate; slotV = slotK + D, so k | v are one 2D run).
//
// Bindings (group 0; forward binds 0..5, the backward passes 0..10):
//   0 uniform    u: { B, T, H, hd, P, Cq, S, slotK, slotV, scale, G, D }
//   1 read       qkv: [B, T, Cq + 2D]   2 read kv: [P, S]   3 read mask: [B, T] u32
//   4 read_write y: [B, T, Cq]          5 read_write lse: [B, H, T]  (written by forward)
//   6 read       dy: [B, T, Cq]         7 read_write dqkv: [B, T, Cq + 2D]
//   8 read_write dkv: [P, S]            9 read_write dsum: [B, H, T] (query_grad -> key_grad)
//  10 read_write partial: [B, P, 2D] (prefix keys' per-row gradients: k then v)
// Dispatch: forward and query_grad (ceil(T / 64), B * H); key_grad (ceil((P + T) / 64),
// B * Hkv); prefix_reduce (ceil(P * 2D / 64)) when P > 0; workgroup 64 each.
// Workgroup memory: 2 * 16 * 128 f32 + 48 words = 16,576 bytes (HARDWARE_WORKGROUP_BYTES).
// Assumptions: hd <= 128 (MAX_HD; checked on the host); P + T >= 1.
// On llvmpipe these kernels are correct but slow, and take about a minute each to compile on a
// cold shader cache (the private per-row arrays live across barriers, which a CPU backend
// implements as coroutine switches); Mesa's on-disk cache makes later runs start at once.

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
@group(0) @binding(6) var<storage, read> dy: array<f32>;
@group(0) @binding(7) var<storage, read_write> dqkv: array<f32>;
@group(0) @binding(8) var<storage, read_write> dkv: array<f32>;
@group(0) @binding(9) var<storage, read_write> dsum: array<f32>;
@group(0) @binding(10) var<storage, read_write> partial: array<f32>;

const MAX_HD = 128u;
const RT = 64u; // rows (queries or keys) per workgroup
const ST = 16u; // staged keys or queries per step

// Two [ST, MAX_HD] tiles: keys and values (forward, query_grad), or queries and output
// gradients (key_grad); and per staged row a flag (forward, query_grad) or lse and Dsum.
var<workgroup> tileA: array<f32, 2048>;
var<workgroup> tileB: array<f32, 2048>;
var<workgroup> rowLive: array<u32, 16>;
var<workgroup> rowLse: array<f32, 16>;
var<workgroup> rowDsum: array<f32, 16>;

// Stage keys j0 .. j0 + ST of row b, KV head hk (of nKeys visible to the workgroup) into tileA
// (keys) and tileB (values), with rowLive[jj] = 1 for a real key (prefix, or an unmasked token).
// Called by all 64 invocations; the caller puts the barrier after it.
fn stage_keys(b: u32, hk: u32, j0: u32, nKeys: u32, lid: u32) {
  let RS = u.Cq + 2u * u.D; // qkv row stride
  for (var e = lid; e < ST * u.hd; e += RT) {
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
    tileA[jj * MAX_HD + i] = kval;
    tileB[jj * MAX_HD + i] = vval;
  }
  if (lid < ST) {
    let j = j0 + lid;
    var ok = 0u;
    if (j < u.P) {
      ok = 1u;
    } else if (j < nKeys) {
      ok = select(0u, 1u, mask[b * u.T + (j - u.P)] != 0u);
    }
    rowLive[lid] = ok;
  }
}

@compute @workgroup_size(64, 1, 1)
fn forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let bh = wg.y;
  let h = bh % u.H;
  let b = bh / u.H;
  let hk = h / u.G;
  let t = wg.x * RT + lid;
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
  let nKeys = u.P + min(u.T, wg.x * RT + RT);
  for (var j0 = 0u; j0 < nKeys; j0 += ST) {
    stage_keys(b, hk, j0, nKeys, lid);
    workgroupBarrier();
    let kn = min(ST, nKeys - j0); // the last stage may be partial
    if (valid) {
      for (var jj = 0u; jj < kn; jj++) {
        // Causal: token key j - P is visible to query t when j <= P + t.
        if (rowLive[jj] == 0u || j0 + jj > u.P + t) { continue; }
        var s = 0.0;
        for (var i = 0u; i < u.hd; i++) { s += q[i] * tileA[jj * MAX_HD + i]; }
        let newMx = max(mx, s);
        let corr = exp(mx - newMx);
        let p = exp(s - newMx);
        den = den * corr + p;
        for (var i = 0u; i < u.hd; i++) { acc[i] = acc[i] * corr + p * tileB[jj * MAX_HD + i]; }
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

@compute @workgroup_size(64, 1, 1)
fn query_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let bh = wg.y;
  let h = bh % u.H;
  let b = bh / u.H;
  let hk = h / u.G;
  let t = wg.x * RT + lid;
  let valid = t < u.T;
  let RS = u.Cq + 2u * u.D; // qkv row stride

  var q: array<f32, MAX_HD>;
  var dO: array<f32, MAX_HD>;
  var dq: array<f32, MAX_HD>;
  var Dt = 0.0;
  var L = 0.0;
  if (valid) {
    let qBase = (b * u.T + t) * RS + h * u.hd;
    let oBase = (b * u.T + t) * u.Cq + h * u.hd;
    for (var i = 0u; i < u.hd; i++) {
      q[i] = qkv[qBase + i] * u.scale;
      dO[i] = dy[oBase + i];
      dq[i] = 0.0;
      Dt += dO[i] * y[oBase + i];
    }
    L = lse[(b * u.H + h) * u.T + t];
    dsum[(b * u.H + h) * u.T + t] = Dt;
  }
  // Keys any row of this workgroup can see (uniform across the workgroup, for the barriers).
  let nKeys = u.P + min(u.T, wg.x * RT + RT);
  for (var j0 = 0u; j0 < nKeys; j0 += ST) {
    stage_keys(b, hk, j0, nKeys, lid);
    workgroupBarrier();
    let kn = min(ST, nKeys - j0);
    if (valid) {
      for (var jj = 0u; jj < kn; jj++) {
        // Causal: token key j - P is visible to query t when j <= P + t.
        if (rowLive[jj] == 0u || j0 + jj > u.P + t) { continue; }
        var s = 0.0;
        var dp = 0.0;
        for (var i = 0u; i < u.hd; i++) {
          s += q[i] * tileA[jj * MAX_HD + i];
          dp += dO[i] * tileB[jj * MAX_HD + i];
        }
        let ds = exp(s - L) * (dp - Dt);
        for (var i = 0u; i < u.hd; i++) { dq[i] += ds * tileA[jj * MAX_HD + i]; }
      }
    }
    workgroupBarrier();
  }
  if (!valid) { return; }
  let qBase = (b * u.T + t) * RS + h * u.hd;
  for (var i = 0u; i < u.hd; i++) { dqkv[qBase + i] = dq[i] * u.scale; }
}

@compute @workgroup_size(64, 1, 1)
fn key_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let Hkv = u.H / u.G;
  let bk = wg.y;
  let hk = bk % Hkv;
  let b = bk / Hkv;
  let j = wg.x * RT + lid; // on row b's key axis [P prefix ; T tokens]
  let valid = j < u.P + u.T;
  let RS = u.Cq + 2u * u.D; // qkv row stride

  var k: array<f32, MAX_HD>;
  var v: array<f32, MAX_HD>;
  var dk: array<f32, MAX_HD>;
  var dv: array<f32, MAX_HD>;
  var live = false;
  if (valid) {
    if (j < u.P) {
      let kBase = j * u.S + u.slotK + hk * u.hd;
      let vBase = j * u.S + u.slotV + hk * u.hd;
      for (var i = 0u; i < u.hd; i++) { k[i] = kv[kBase + i]; v[i] = kv[vBase + i]; }
      live = true;
    } else {
      let kBase = (b * u.T + (j - u.P)) * RS + u.Cq + hk * u.hd;
      for (var i = 0u; i < u.hd; i++) { k[i] = qkv[kBase + i]; v[i] = qkv[kBase + u.D + i]; }
      live = mask[b * u.T + (j - u.P)] != 0u;
    }
    for (var i = 0u; i < u.hd; i++) { dk[i] = 0.0; dv[i] = 0.0; }
  }
  // Queries that can see some key of this workgroup: t >= (first key) - P.
  let jFirst = wg.x * RT;
  let tStart = select(0u, jFirst - u.P, jFirst > u.P);
  for (var h = hk * u.G; h < (hk + 1u) * u.G; h++) {
    for (var t0 = tStart; t0 < u.T; t0 += ST) {
      for (var e = lid; e < ST * u.hd; e += RT) {
        let tt = e / u.hd;
        let i = e % u.hd;
        let t = t0 + tt;
        var qval = 0.0;
        var oval = 0.0;
        if (t < u.T) {
          qval = qkv[(b * u.T + t) * RS + h * u.hd + i];
          oval = dy[(b * u.T + t) * u.Cq + h * u.hd + i];
        }
        tileA[tt * MAX_HD + i] = qval;
        tileB[tt * MAX_HD + i] = oval;
      }
      if (lid < ST) {
        let t = t0 + lid;
        var l = 0.0;
        var d = 0.0;
        if (t < u.T) {
          l = lse[(b * u.H + h) * u.T + t];
          d = dsum[(b * u.H + h) * u.T + t];
        }
        rowLse[lid] = l;
        rowDsum[lid] = d;
      }
      workgroupBarrier();
      if (live) {
        let tn = min(ST, u.T - t0);
        for (var tt = 0u; tt < tn; tt++) {
          if (j > u.P + t0 + tt) { continue; } // causal: query t sees key j when j <= P + t
          var s = 0.0;
          var dp = 0.0;
          for (var i = 0u; i < u.hd; i++) {
            s += tileA[tt * MAX_HD + i] * k[i];
            dp += tileB[tt * MAX_HD + i] * v[i];
          }
          let p = exp(s * u.scale - rowLse[tt]);
          let ds = p * (dp - rowDsum[tt]) * u.scale;
          for (var i = 0u; i < u.hd; i++) {
            dk[i] += ds * tileA[tt * MAX_HD + i];
            dv[i] += p * tileB[tt * MAX_HD + i];
          }
        }
      }
      workgroupBarrier();
    }
  }
  if (!valid) { return; }
  if (j < u.P) {
    let base = (b * u.P + j) * 2u * u.D + hk * u.hd;
    for (var i = 0u; i < u.hd; i++) {
      partial[base + i] = dk[i];
      partial[base + u.D + i] = dv[i];
    }
  } else {
    let kBase = (b * u.T + (j - u.P)) * RS + u.Cq + hk * u.hd;
    for (var i = 0u; i < u.hd; i++) {
      dqkv[kBase + i] = dk[i];
      dqkv[kBase + u.D + i] = dv[i];
    }
  }
}

@compute @workgroup_size(64, 1, 1)
fn prefix_reduce(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.x; // p * 2D + c
  let W = 2u * u.D;
  if (idx >= u.P * W) { return; }
  let p = idx / W;
  let c = idx % W;
  var acc = 0.0;
  for (var b = 0u; b < u.B; b++) { acc += partial[b * u.P * W + idx]; }
  dkv[p * u.S + u.slotK + c] += acc;
}
