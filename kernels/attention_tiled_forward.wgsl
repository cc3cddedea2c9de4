// attention_tiled_forward: the hardware kernel set's attention forward (same maths, uniform
// and outputs as kernels/attention_forward.wgsl, where the formulas are): causal grouped-query
// attention over [prefix K/V ; token K/V] with the padding mask,
//   s_j = scale * q·k_j,  y = sum_j softmax(s)_j v_j,  lse = log sum_j exp(s_j).
// Flash-attention style: no [T, P + T] score matrix exists anywhere, and keys and values are
// staged through workgroup memory once per tile of 64 query rows instead of being read from
// global memory once per row. A workgroup owns 64 consecutive queries of one (b, h); keys and
// values are staged 16 at a time (stage_keys, shared with kernels/attention_tiled_backward.wgsl)
// and shared by the 64 rows; each row keeps a running max, sum and output accumulator (online
// softmax), and saves lse for the backward.
//
// Bindings (group 0):
//   0 uniform    u: { B, T, H, hd, P, Cq, S, slotK, slotV, scale, G, D }
//   1 read       qkv: [B, T, Cq + 2D]   2 read kv: [P, S]   3 read mask: [B, T] u32
//   4 read_write y: [B, T, Cq]          5 read_write lse: [B, H, T]
// Dispatch: (ceil(T / 64), B * H), workgroup 64.
// Workgroup memory: 2 * 16 * 128 f32 + 16 words = 16,448 bytes.
// Vectors: each head vector is held and staged as ceil(hd / 4) vec4s, zero past hd, so every
// dot product and update is a vec4 operation; a private array of 32 vec4s (not 128 f32s) also
// compiles about six times faster on a CPU adapter, which lowers dynamically indexed private
// arrays into branch trees.
// Assumptions: hd <= 128 (MAX_HEAD_DIM; checked on the host); P + T >= 1.
// On llvmpipe this kernel is correct but slow (barriers are coroutine switches on a CPU).
// The SHARED block below (uniform, bindings 0..3, tiles, loads, stage_keys) is the source of
// the backward's copy.

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

@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let bh = wg.y;
  let h = bh % u.H;
  let b = bh / u.H;
  let hk = h / u.G;
  let t = wg.x * RT + lid;
  let valid = t < u.T;
  let RS = u.Cq + 2u * u.D; // qkv row stride
  let n4 = (u.hd + 3u) / 4u;

  var q: array<vec4<f32>, MAX_HD4>;
  var acc: array<vec4<f32>, MAX_HD4>;
  if (valid) {
    let qBase = (b * u.T + t) * RS + h * u.hd;
    for (var c = 0u; c < n4; c++) {
      q[c] = qkv4(qBase, c) * u.scale;
      acc[c] = vec4<f32>(0.0);
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
        for (var c = 0u; c < n4; c++) { s += dot(q[c], tileA[jj * MAX_HD4 + c]); }
        let newMx = max(mx, s);
        let corr = exp(mx - newMx);
        let p = exp(s - newMx);
        den = den * corr + p;
        for (var c = 0u; c < n4; c++) { acc[c] = acc[c] * corr + p * tileB[jj * MAX_HD4 + c]; }
        mx = newMx;
      }
    }
    workgroupBarrier();
  }
  if (!valid) { return; }
  let yBase = (b * u.T + t) * u.Cq + h * u.hd;
  let inv = 1.0 / den;
  for (var i = 0u; i < u.hd; i++) { y[yBase + i] = acc[i / 4u][i % 4u] * inv; }
  lse[(b * u.H + h) * u.T + t] = mx + log(den);
}
