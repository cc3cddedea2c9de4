// matmul_xw_unaligned: Y[M,N] = X[M,K] · W[K,N] (+ bias[N]) (+ Y, when accumulating), for
// any shape. src/gpu/matmul_xw.ts dispatches it instead of kernels/matmul_xw.wgsl (the faster
// kernel, which needs K and N multiples of 4) when K or N is not a multiple of 4,
// e.g. the LM head's input gradient over the last, odd-sized vocabulary chunk. It was the
// shipped kernel before that one, and is the baseline of bench/matmul_bench.ts --variants.
//
// Bindings (group 0):
//   0 uniform    u: { M, K, N, flags }    flags bit 0: add bias, bit 1: accumulate into Y
//   1 read       x: [M, K] f32 row-major
//   2 read       w: [K, N] f32 row-major
//   3 read       bias: [N] f32 (bound but unread when flags bit 0 is clear)
//   4 read_write y: [M, N] f32 row-major
// Dispatch: (ceil(N / 64), ceil(M / 64), 1), workgroup 8 x 8 = 64 threads.
// Tiling: each workgroup owns a 64 x 64 output tile and walks K in steps of BK; the X and W
// tiles are staged in workgroup memory, stored k-major as vec4 so that the inner loop does
// 4 vec4 loads and 16 vec4 FMAs per k. Each thread owns an 8 x 8 block of outputs: rows
// {ty*4 + r, 32 + ty*4 + r} and columns {tx*4 + c, 32 + tx*4 + c}, r, c in 0..3, held in 16
// named vec4 accumulators: an array indexed at run time would live in memory on CPU
// backends such as llvmpipe (measured ~1.6x slower there).
// Assumptions: any M, K, N >= 1 (edges are bounds-checked: odd sizes are fine);
// workgroup memory 2 * BK * 64 * 4 bytes = 8 KiB.

struct Uniforms { M: u32, K: u32, N: u32, flags: u32 }

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

const BM = 64u;
const BN = 64u;
const BK = 16u;

// xs[k * 16 + i]: rows 4i..4i+3 of the X tile at column k. ws likewise for W's columns.
var<workgroup> xs: array<vec4<f32>, 256>; // BK * BM / 4
var<workgroup> ws: array<vec4<f32>, 256>; // BK * BN / 4

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let tx = lid.x;
  let ty = lid.y;
  let tid = ty * 8u + tx;
  let m0 = wg.y * BM;
  let n0 = wg.x * BN;

  var c00 = vec4<f32>(0.0); var c01 = vec4<f32>(0.0); var c10 = vec4<f32>(0.0); var c11 = vec4<f32>(0.0);
  var c20 = vec4<f32>(0.0); var c21 = vec4<f32>(0.0); var c30 = vec4<f32>(0.0); var c31 = vec4<f32>(0.0);
  var c40 = vec4<f32>(0.0); var c41 = vec4<f32>(0.0); var c50 = vec4<f32>(0.0); var c51 = vec4<f32>(0.0);
  var c60 = vec4<f32>(0.0); var c61 = vec4<f32>(0.0); var c70 = vec4<f32>(0.0); var c71 = vec4<f32>(0.0);

  for (var k0 = 0u; k0 < u.K; k0 += BK) {
    // Stage X[m0.., k0..]: 1024 values, 16 per thread; consecutive threads read along K.
    for (var e = 0u; e < 16u; e++) {
      let idx = tid + e * 64u;
      let kk = idx % BK;
      let mm = idx / BK;
      let gm = m0 + mm;
      let gk = k0 + kk;
      var v = 0.0;
      if (gm < u.M && gk < u.K) { v = x[gm * u.K + gk]; }
      xs[kk * 16u + mm / 4u][mm % 4u] = v;
    }
    // Stage W[k0.., n0..]: consecutive threads read along N.
    for (var e = 0u; e < 16u; e++) {
      let idx = tid + e * 64u;
      let nn = idx % BN;
      let kk = idx / BN;
      let gk = k0 + kk;
      let gn = n0 + nn;
      var v = 0.0;
      if (gk < u.K && gn < u.N) { v = w[gk * u.N + gn]; }
      ws[kk * 16u + nn / 4u][nn % 4u] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let a0 = xs[kk * 16u + ty];
      let a1 = xs[kk * 16u + 8u + ty];
      let b0 = ws[kk * 16u + tx];
      let b1 = ws[kk * 16u + 8u + tx];
      c00 += a0.x * b0; c01 += a0.x * b1;
      c10 += a0.y * b0; c11 += a0.y * b1;
      c20 += a0.z * b0; c21 += a0.z * b1;
      c30 += a0.w * b0; c31 += a0.w * b1;
      c40 += a1.x * b0; c41 += a1.x * b1;
      c50 += a1.y * b0; c51 += a1.y * b1;
      c60 += a1.z * b0; c61 += a1.z * b1;
      c70 += a1.w * b0; c71 += a1.w * b1;
    }
    workgroupBarrier();
  }

  let rb = m0 + ty * 4u;
  let cb = n0 + tx * 4u;
  store_row(rb + 0u, cb, c00, c01);
  store_row(rb + 1u, cb, c10, c11);
  store_row(rb + 2u, cb, c20, c21);
  store_row(rb + 3u, cb, c30, c31);
  store_row(rb + 32u, cb, c40, c41);
  store_row(rb + 33u, cb, c50, c51);
  store_row(rb + 34u, cb, c60, c61);
  store_row(rb + 35u, cb, c70, c71);
}

// Row gm, columns cb..cb+3 (v0) and cb+32..cb+35 (v1), with bias/accumulate and bounds.
fn store_row(gm: u32, cb: u32, v0: vec4<f32>, v1: vec4<f32>) {
  if (gm >= u.M) { return; }
  store4(gm, cb, v0);
  store4(gm, cb + 32u, v1);
}

fn store4(gm: u32, gn0: u32, v: vec4<f32>) {
  let addBias = (u.flags & 1u) != 0u;
  let accumulate = (u.flags & 2u) != 0u;
  for (var c = 0u; c < 4u; c++) {
    let gn = gn0 + c;
    if (gn >= u.N) { return; }
    var o = v[c];
    if (addBias) { o += bias[gn]; }
    let i = gm * u.N + gn;
    if (accumulate) { o += y[i]; }
    y[i] = o;
  }
}
