// matmul_xwt_unaligned: Y[M,N] = X[M,K] · W[N,K]ᵀ (+ Y, when accumulating), for any shape.
// src/gpu/matmul_xwt.ts dispatches it instead of kernels/matmul_xwt.wgsl (the faster kernel,
// which needs K a multiple of 4) when K is not a multiple of 4. It was the shipped kernel
// before that one, and is the baseline of bench/matmul_bench.ts --variants.
//
// Bindings (group 0):
//   0 uniform    u: { M, N, K, flags }    flags bit 1: accumulate into Y
//   1 read       x: [M, K] f32 row-major
//   2 read       w: [N, K] f32 row-major
//   3 read_write y: [M, N] f32 row-major
// Dispatch: (ceil(N / 64), ceil(M / 64), 1), workgroup 8 x 8 = 64 threads.
// Tiling: as matmul_xw_unaligned (64 x 64 output tile, 8 x 8 outputs per thread in 16 named
// vec4 accumulators, vec4 tiles in workgroup memory, k-major), walking the reduction axis K
// in steps of BK. Both operands are read along K, which is contiguous in memory for both.
// Assumptions: any M, N, K >= 1 (edges are bounds-checked); 8 KiB workgroup memory.

struct Uniforms { M: u32, N: u32, K: u32, flags: u32 }

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

const BM = 64u;
const BN = 64u; // output columns (N) per tile
const BK = 16u; // reduction (K) step

var<workgroup> xs: array<vec4<f32>, 256>; // [BK][BM / 4]
var<workgroup> ws: array<vec4<f32>, 256>; // [BK][BN / 4]

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
    for (var e = 0u; e < 16u; e++) {
      let idx = tid + e * 64u;
      let rr = idx % BK;
      let row = idx / BK;
      let gk = k0 + rr;
      let gm = m0 + row;
      var v = 0.0;
      if (gm < u.M && gk < u.K) { v = x[gm * u.K + gk]; }
      xs[rr * 16u + row / 4u][row % 4u] = v;
      let gn = n0 + row;
      var wv = 0.0;
      if (gn < u.N && gk < u.K) { wv = w[gn * u.K + gk]; }
      ws[rr * 16u + row / 4u][row % 4u] = wv;
    }
    workgroupBarrier();
    for (var rr = 0u; rr < BK; rr++) {
      let a0 = xs[rr * 16u + ty];
      let a1 = xs[rr * 16u + 8u + ty];
      let b0 = ws[rr * 16u + tx];
      let b1 = ws[rr * 16u + 8u + tx];
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

// Row gm, columns cb..cb+3 (v0) and cb+32..cb+35 (v1), with accumulate and bounds.
fn store_row(gm: u32, cb: u32, v0: vec4<f32>, v1: vec4<f32>) {
  if (gm >= u.M) { return; }
  store4(gm, cb, v0);
  store4(gm, cb + 32u, v1);
}

fn store4(gm: u32, gn0: u32, v: vec4<f32>) {
  let accumulate = (u.flags & 2u) != 0u;
  for (var c = 0u; c < 4u; c++) {
    let gn = gn0 + c;
    if (gn >= u.N) { return; }
    var o = v[c];
    let i = gm * u.N + gn;
    if (accumulate) { o += y[i]; }
    y[i] = o;
  }
}
