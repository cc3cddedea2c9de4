// attention_tiled_backward: the hardware kernel set's attention backward (same maths, uniform
// and outputs as kernels/attention_backward.wgsl, where the formulas are), after
// kernels/attention_tiled_forward.wgsl: probabilities are recomputed from the forward's lse,
// and no [T, P + T] matrix exists anywhere. Entry points, in this order:
//   query_grad:    a workgroup owns 64 consecutive queries of one (b, h), which share each
//                  staged tile of 16 keys and values (stage_keys, shared with the forward).
//                  Writes Dsum = dO·y and dq into dqkv[..., 0:Cq].
//   key_grad:      a workgroup owns 64 consecutive keys of one (b, hk) on row b's key axis
//                  [P prefix keys ; T token keys]; the G query heads' queries, output
//                  gradients, lse and Dsum are staged 16 queries at a time. A token key writes
//                  dqkv[..., Cq:Cq+2D] (zero for a padded key, which nothing attends to). A
//                  prefix key is shared by every row of the batch, so row b writes its share
//                  to partial[b] instead of racing other workgroups on dkv.
//   prefix_reduce: dkv[p, slots of this layer] += sum over b of partial[b, p] (adds, so
//                  micro-batches accumulate; slotV = slotK + D, so k | v are one 2D run).
//
// Bindings (group 0; all three entry points bind 0..10):
//   0 uniform    u: { B, T, H, hd, P, Cq, S, slotK, slotV, scale, G, D }
//   1 read       qkv: [B, T, Cq + 2D]   2 read kv: [P, S]   3 read mask: [B, T] u32
//   4 read       y: [B, T, Cq]          5 read lse: [B, H, T]  (the forward's outputs)
//   6 read       dy: [B, T, Cq]         7 read_write dqkv: [B, T, Cq + 2D]
//   8 read_write dkv: [P, S]            9 read_write dsum: [B, H, T] (query_grad -> key_grad)
//  10 read_write partial: [B, P, 2D] (prefix keys' per-row gradients: k then v)
// Dispatch: query_grad (ceil(T / 64), B * H); key_grad (ceil((P + T) / 64), B * Hkv);
// prefix_reduce (ceil(P * 2D / 64)) when P > 0; workgroup 64 each.
// Workgroup memory: 2 * 16 * 128 f32 + 48 words = 16,576 bytes (HARDWARE_WORKGROUP_BYTES).
// Vectors: as the forward, head vectors are held and staged as ceil(hd / 4) vec4s, zero past hd.
// Assumptions: hd <= 128 (MAX_HEAD_DIM; checked on the host); P + T >= 1.
// On llvmpipe these kernels are correct but slow (barriers are coroutine switches on a CPU).
// The SHARED block below is GENERATED, a copy of the forward's: edit it there, then run
// `deno task kernels`.

// ---- BEGIN SHARED attention_tiled ----
// One source for both passes: this block is written in kernels/attention_tiled_forward.wgsl,
// and `deno task kernels` (src/gpu/kernel_gen/shared_blocks.ts) copies it into
// kernels/attention_tiled_backward.wgsl; tests/gpu/shipped_kernels_test.ts fails when the copy
// differs. Edit it in the forward, then run the task.

struct Uniforms {
  B: u32, T: u32, H: u32, hd: u32,
  P: u32, Cq: u32, S: u32, slotK: u32,
  slotV: u32, scale: f32, G: u32, D: u32,
}

// Bindings 0..3, the same in both passes (y and lse, from 4 on, differ: see each file).
@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> kv: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<u32>;

const MAX_HD4 = 32u; // MAX_HD = 128 floats as vec4s
const RT = 64u; // rows (queries or keys) per workgroup
const ST = 16u; // staged keys or queries per step

// Two [ST, MAX_HD4] vec4 tiles: keys and values (forward, query_grad), or queries and output
// gradients (key_grad); rowLive flags the staged keys that are real (forward, query_grad).
var<workgroup> tileA: array<vec4<f32>, 512>;
var<workgroup> tileB: array<vec4<f32>, 512>;
var<workgroup> rowLive: array<u32, 16>;

// Floats 4c .. 4c + 3 of the head vector at `base`, zero past hd (an index past hd may read
// another row's value, or be clamped by WebGPU's bounds checks; select drops it either way).
fn qkv4(base: u32, c: u32) -> vec4<f32> {
  let i = 4u * c;
  return select(vec4<f32>(0.0), vec4<f32>(qkv[base + i], qkv[base + i + 1u], qkv[base + i + 2u],
    qkv[base + i + 3u]), vec4<u32>(i, i + 1u, i + 2u, i + 3u) < vec4<u32>(u.hd));
}
fn kv4(base: u32, c: u32) -> vec4<f32> {
  let i = 4u * c;
  return select(vec4<f32>(0.0), vec4<f32>(kv[base + i], kv[base + i + 1u], kv[base + i + 2u],
    kv[base + i + 3u]), vec4<u32>(i, i + 1u, i + 2u, i + 3u) < vec4<u32>(u.hd));
}

// Stage keys j0 .. j0 + ST of row b, KV head hk (of nKeys visible to the workgroup) into tileA
// (keys) and tileB (values), with rowLive[jj] = 1 for a real key (prefix, or an unmasked token).
// Called by all 64 invocations; the caller puts the barrier after it.
fn stage_keys(b: u32, hk: u32, j0: u32, nKeys: u32, lid: u32) {
  let RS = u.Cq + 2u * u.D; // qkv row stride
  let n4 = (u.hd + 3u) / 4u;
  for (var e = lid; e < ST * n4; e += RT) {
    let jj = e / n4;
    let c = e % n4;
    let j = j0 + jj;
    var kval = vec4<f32>(0.0);
    var vval = vec4<f32>(0.0);
    if (j < u.P) {
      kval = kv4(j * u.S + u.slotK + hk * u.hd, c);
      vval = kv4(j * u.S + u.slotV + hk * u.hd, c);
    } else if (j < nKeys) {
      let kBase = (b * u.T + (j - u.P)) * RS + u.Cq + hk * u.hd;
      kval = qkv4(kBase, c);
      vval = qkv4(kBase + u.D, c);
    }
    tileA[jj * MAX_HD4 + c] = kval;
    tileB[jj * MAX_HD4 + c] = vval;
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

// ---- END SHARED attention_tiled ----

@group(0) @binding(4) var<storage, read> y: array<f32>;
@group(0) @binding(5) var<storage, read> lse: array<f32>;
@group(0) @binding(6) var<storage, read> dy: array<f32>;
@group(0) @binding(7) var<storage, read_write> dqkv: array<f32>;
@group(0) @binding(8) var<storage, read_write> dkv: array<f32>;
@group(0) @binding(9) var<storage, read_write> dsum: array<f32>;
@group(0) @binding(10) var<storage, read_write> partial: array<f32>;

// key_grad's per staged query: lse and Dsum.
var<workgroup> rowLse: array<f32, 16>;
var<workgroup> rowDsum: array<f32, 16>;

// As qkv4, for the output gradient and the forward's output.
fn dy4(base: u32, c: u32) -> vec4<f32> {
  let i = 4u * c;
  return select(vec4<f32>(0.0), vec4<f32>(dy[base + i], dy[base + i + 1u], dy[base + i + 2u],
    dy[base + i + 3u]), vec4<u32>(i, i + 1u, i + 2u, i + 3u) < vec4<u32>(u.hd));
}
fn y4(base: u32, c: u32) -> vec4<f32> {
  let i = 4u * c;
  return select(vec4<f32>(0.0), vec4<f32>(y[base + i], y[base + i + 1u], y[base + i + 2u],
    y[base + i + 3u]), vec4<u32>(i, i + 1u, i + 2u, i + 3u) < vec4<u32>(u.hd));
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
  let n4 = (u.hd + 3u) / 4u;

  var q: array<vec4<f32>, MAX_HD4>;
  var dO: array<vec4<f32>, MAX_HD4>;
  var dq: array<vec4<f32>, MAX_HD4>;
  var Dt = 0.0;
  var L = 0.0;
  if (valid) {
    let qBase = (b * u.T + t) * RS + h * u.hd;
    let oBase = (b * u.T + t) * u.Cq + h * u.hd;
    for (var c = 0u; c < n4; c++) {
      q[c] = qkv4(qBase, c) * u.scale;
      dO[c] = dy4(oBase, c);
      dq[c] = vec4<f32>(0.0);
      Dt += dot(dO[c], y4(oBase, c));
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
        for (var c = 0u; c < n4; c++) {
          s += dot(q[c], tileA[jj * MAX_HD4 + c]);
          dp += dot(dO[c], tileB[jj * MAX_HD4 + c]);
        }
        let ds = exp(s - L) * (dp - Dt);
        for (var c = 0u; c < n4; c++) { dq[c] += ds * tileA[jj * MAX_HD4 + c]; }
      }
    }
    workgroupBarrier();
  }
  if (!valid) { return; }
  let qBase = (b * u.T + t) * RS + h * u.hd;
  for (var i = 0u; i < u.hd; i++) { dqkv[qBase + i] = dq[i / 4u][i % 4u] * u.scale; }
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
  let n4 = (u.hd + 3u) / 4u;

  var k: array<vec4<f32>, MAX_HD4>;
  var v: array<vec4<f32>, MAX_HD4>;
  var dk: array<vec4<f32>, MAX_HD4>;
  var dv: array<vec4<f32>, MAX_HD4>;
  var live = false;
  if (valid) {
    if (j < u.P) {
      let kBase = j * u.S + u.slotK + hk * u.hd;
      let vBase = j * u.S + u.slotV + hk * u.hd;
      for (var c = 0u; c < n4; c++) { k[c] = kv4(kBase, c); v[c] = kv4(vBase, c); }
      live = true;
    } else {
      let kBase = (b * u.T + (j - u.P)) * RS + u.Cq + hk * u.hd;
      for (var c = 0u; c < n4; c++) { k[c] = qkv4(kBase, c); v[c] = qkv4(kBase + u.D, c); }
      live = mask[b * u.T + (j - u.P)] != 0u;
    }
    for (var c = 0u; c < n4; c++) { dk[c] = vec4<f32>(0.0); dv[c] = vec4<f32>(0.0); }
  }
  // Queries that can see some key of this workgroup: t >= (first key) - P.
  let jFirst = wg.x * RT;
  let tStart = select(0u, jFirst - u.P, jFirst > u.P);
  for (var h = hk * u.G; h < (hk + 1u) * u.G; h++) {
    for (var t0 = tStart; t0 < u.T; t0 += ST) {
      for (var e = lid; e < ST * n4; e += RT) {
        let tt = e / n4;
        let c = e % n4;
        let t = t0 + tt;
        var qval = vec4<f32>(0.0);
        var oval = vec4<f32>(0.0);
        if (t < u.T) {
          qval = qkv4((b * u.T + t) * RS + h * u.hd, c);
          oval = dy4((b * u.T + t) * u.Cq + h * u.hd, c);
        }
        tileA[tt * MAX_HD4 + c] = qval;
        tileB[tt * MAX_HD4 + c] = oval;
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
          for (var c = 0u; c < n4; c++) {
            s += dot(tileA[tt * MAX_HD4 + c], k[c]);
            dp += dot(tileB[tt * MAX_HD4 + c], v[c]);
          }
          let p = exp(s * u.scale - rowLse[tt]);
          let ds = p * (dp - rowDsum[tt]) * u.scale;
          for (var c = 0u; c < n4; c++) {
            dk[c] += ds * tileA[tt * MAX_HD4 + c];
            dv[c] += p * tileB[tt * MAX_HD4 + c];
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
      partial[base + i] = dk[i / 4u][i % 4u];
      partial[base + u.D + i] = dv[i / 4u][i % 4u];
    }
  } else {
    let kBase = (b * u.T + (j - u.P)) * RS + u.Cq + hk * u.hd;
    for (var i = 0u; i < u.hd; i++) {
      dqkv[kBase + i] = dk[i / 4u][i % 4u];
      dqkv[kBase + u.D + i] = dv[i / 4u][i % 4u];
    }
  }
}

@compute @workgroup_size(64, 1, 1)
fn prefix_reduce(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.x; // p * 2D + c
  let W = 2u * u.D;
  if (idx >= u.P * W) { return; }
  var acc = 0.0;
  for (var b = 0u; b < u.B; b++) { acc += partial[b * u.P * W + idx]; }
  dkv[(idx / W) * u.S + u.slotK + idx % W] += acc;
}
