// matmul_forward: Y[M,N] = X[M,K] · W[K,N] (+ bias[N]) (+ Y, when accumulating), for K and N
// multiples of 4. src/gpu/matmul_forward.ts dispatches kernels/matmul_forward_unaligned.wgsl
// (same bindings, any shape) when K or N is not a multiple of 4.
//
// Used for every Conv1D of GPT-2 (HF stores Conv1D weights as [in, out] = [K, N], so no
// transpose), for the LM head's input gradient dh += dlogits · wte_chunk, and as the
// fused residual add (accumulate = 1: Y already holds the residual stream).
//
// Bindings (group 0):
//   0 uniform    u: { M, K, N, flags }    flags bit 0: add bias, bit 1: accumulate into Y
//   1 read       x: [M, K / 4] vec4<f32> (X row-major, K % 4 == 0)
//   2 read       w: [K, N / 4] vec4<f32> (W row-major, N % 4 == 0)
//   3 read       bias: [N] f32 (bound but unread when flags bit 0 is clear)
//   4 read_write y: [M, N] f32 row-major
// Dispatch: (ceil(N / 128), ceil(M / 32), 1), workgroup of 8 invocations.
// Tiling, for CPU backends (Mesa llvmpipe runs a workgroup's invocations as the lanes of
// 256-bit vectors and every buffer load as a loop over those lanes, so the number of loads
// per multiply-add sets the speed; workgroup memory is ordinary memory there, and barriers
// are coroutine switches). No workgroup memory and no barrier: a workgroup owns a 32 x 128
// output tile, and invocation `lid` owns its 32 rows x 4 column quads, columns
// 4 * (wg.x * 32 + lid + 8j) + 0..3, j = 0..3, in 128 named vec4 accumulators (an array
// indexed at run time would live in memory). Per 4 steps of K it loads 16 vec4 of W and 32
// vec4 of X (the same for all invocations) for 512 vec4 multiply-adds, and updates each
// accumulator once with a 4-term sum: the accumulators live on the stack on llvmpipe, so
// this is one accumulator load and store per 4 products. Variants and numbers:
// bench/matmul_variants/variants.ts, bench/RESULTS.md.
// Assumptions: M, N >= 1, K >= 4, K % 4 == 0, N % 4 == 0; rows and columns past the edges
// are clamped for the loads and skipped by the stores (M and N need not be tile multiples);
// no workgroup memory.

struct Uniforms { M: u32, K: u32, N: u32, flags: u32 }

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

const BM = 32u; // output rows per workgroup
const WG = 8u; // invocations per workgroup
const QN = 4u; // column quads per invocation

@compute @workgroup_size(8, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let K4 = u.K / 4u;
  let N4 = u.N / 4u;
  let m0 = wg.y * BM;
  let qb = wg.x * (WG * QN) + lid; // this invocation's first column quad
  // Row offsets, clamped into range: rows past M are computed but not stored.
  let xr0 = min(m0 + 0u, u.M - 1u) * K4;
  let xr1 = min(m0 + 1u, u.M - 1u) * K4;
  let xr2 = min(m0 + 2u, u.M - 1u) * K4;
  let xr3 = min(m0 + 3u, u.M - 1u) * K4;
  let xr4 = min(m0 + 4u, u.M - 1u) * K4;
  let xr5 = min(m0 + 5u, u.M - 1u) * K4;
  let xr6 = min(m0 + 6u, u.M - 1u) * K4;
  let xr7 = min(m0 + 7u, u.M - 1u) * K4;
  let xr8 = min(m0 + 8u, u.M - 1u) * K4;
  let xr9 = min(m0 + 9u, u.M - 1u) * K4;
  let xr10 = min(m0 + 10u, u.M - 1u) * K4;
  let xr11 = min(m0 + 11u, u.M - 1u) * K4;
  let xr12 = min(m0 + 12u, u.M - 1u) * K4;
  let xr13 = min(m0 + 13u, u.M - 1u) * K4;
  let xr14 = min(m0 + 14u, u.M - 1u) * K4;
  let xr15 = min(m0 + 15u, u.M - 1u) * K4;
  let xr16 = min(m0 + 16u, u.M - 1u) * K4;
  let xr17 = min(m0 + 17u, u.M - 1u) * K4;
  let xr18 = min(m0 + 18u, u.M - 1u) * K4;
  let xr19 = min(m0 + 19u, u.M - 1u) * K4;
  let xr20 = min(m0 + 20u, u.M - 1u) * K4;
  let xr21 = min(m0 + 21u, u.M - 1u) * K4;
  let xr22 = min(m0 + 22u, u.M - 1u) * K4;
  let xr23 = min(m0 + 23u, u.M - 1u) * K4;
  let xr24 = min(m0 + 24u, u.M - 1u) * K4;
  let xr25 = min(m0 + 25u, u.M - 1u) * K4;
  let xr26 = min(m0 + 26u, u.M - 1u) * K4;
  let xr27 = min(m0 + 27u, u.M - 1u) * K4;
  let xr28 = min(m0 + 28u, u.M - 1u) * K4;
  let xr29 = min(m0 + 29u, u.M - 1u) * K4;
  let xr30 = min(m0 + 30u, u.M - 1u) * K4;
  let xr31 = min(m0 + 31u, u.M - 1u) * K4;
  // Column quads qb, qb + 8, qb + 16, qb + 24, clamped likewise.
  let q0 = min(qb + 0u, N4 - 1u);
  let q1 = min(qb + 8u, N4 - 1u);
  let q2 = min(qb + 16u, N4 - 1u);
  let q3 = min(qb + 24u, N4 - 1u);
  // c{r}_{j}: row m0 + r, columns 4 * (qb + 8j) + 0..3.
  var c0_0 = vec4<f32>(0.0); var c0_1 = vec4<f32>(0.0); var c0_2 = vec4<f32>(0.0); var c0_3 = vec4<f32>(0.0);
  var c1_0 = vec4<f32>(0.0); var c1_1 = vec4<f32>(0.0); var c1_2 = vec4<f32>(0.0); var c1_3 = vec4<f32>(0.0);
  var c2_0 = vec4<f32>(0.0); var c2_1 = vec4<f32>(0.0); var c2_2 = vec4<f32>(0.0); var c2_3 = vec4<f32>(0.0);
  var c3_0 = vec4<f32>(0.0); var c3_1 = vec4<f32>(0.0); var c3_2 = vec4<f32>(0.0); var c3_3 = vec4<f32>(0.0);
  var c4_0 = vec4<f32>(0.0); var c4_1 = vec4<f32>(0.0); var c4_2 = vec4<f32>(0.0); var c4_3 = vec4<f32>(0.0);
  var c5_0 = vec4<f32>(0.0); var c5_1 = vec4<f32>(0.0); var c5_2 = vec4<f32>(0.0); var c5_3 = vec4<f32>(0.0);
  var c6_0 = vec4<f32>(0.0); var c6_1 = vec4<f32>(0.0); var c6_2 = vec4<f32>(0.0); var c6_3 = vec4<f32>(0.0);
  var c7_0 = vec4<f32>(0.0); var c7_1 = vec4<f32>(0.0); var c7_2 = vec4<f32>(0.0); var c7_3 = vec4<f32>(0.0);
  var c8_0 = vec4<f32>(0.0); var c8_1 = vec4<f32>(0.0); var c8_2 = vec4<f32>(0.0); var c8_3 = vec4<f32>(0.0);
  var c9_0 = vec4<f32>(0.0); var c9_1 = vec4<f32>(0.0); var c9_2 = vec4<f32>(0.0); var c9_3 = vec4<f32>(0.0);
  var c10_0 = vec4<f32>(0.0); var c10_1 = vec4<f32>(0.0); var c10_2 = vec4<f32>(0.0); var c10_3 = vec4<f32>(0.0);
  var c11_0 = vec4<f32>(0.0); var c11_1 = vec4<f32>(0.0); var c11_2 = vec4<f32>(0.0); var c11_3 = vec4<f32>(0.0);
  var c12_0 = vec4<f32>(0.0); var c12_1 = vec4<f32>(0.0); var c12_2 = vec4<f32>(0.0); var c12_3 = vec4<f32>(0.0);
  var c13_0 = vec4<f32>(0.0); var c13_1 = vec4<f32>(0.0); var c13_2 = vec4<f32>(0.0); var c13_3 = vec4<f32>(0.0);
  var c14_0 = vec4<f32>(0.0); var c14_1 = vec4<f32>(0.0); var c14_2 = vec4<f32>(0.0); var c14_3 = vec4<f32>(0.0);
  var c15_0 = vec4<f32>(0.0); var c15_1 = vec4<f32>(0.0); var c15_2 = vec4<f32>(0.0); var c15_3 = vec4<f32>(0.0);
  var c16_0 = vec4<f32>(0.0); var c16_1 = vec4<f32>(0.0); var c16_2 = vec4<f32>(0.0); var c16_3 = vec4<f32>(0.0);
  var c17_0 = vec4<f32>(0.0); var c17_1 = vec4<f32>(0.0); var c17_2 = vec4<f32>(0.0); var c17_3 = vec4<f32>(0.0);
  var c18_0 = vec4<f32>(0.0); var c18_1 = vec4<f32>(0.0); var c18_2 = vec4<f32>(0.0); var c18_3 = vec4<f32>(0.0);
  var c19_0 = vec4<f32>(0.0); var c19_1 = vec4<f32>(0.0); var c19_2 = vec4<f32>(0.0); var c19_3 = vec4<f32>(0.0);
  var c20_0 = vec4<f32>(0.0); var c20_1 = vec4<f32>(0.0); var c20_2 = vec4<f32>(0.0); var c20_3 = vec4<f32>(0.0);
  var c21_0 = vec4<f32>(0.0); var c21_1 = vec4<f32>(0.0); var c21_2 = vec4<f32>(0.0); var c21_3 = vec4<f32>(0.0);
  var c22_0 = vec4<f32>(0.0); var c22_1 = vec4<f32>(0.0); var c22_2 = vec4<f32>(0.0); var c22_3 = vec4<f32>(0.0);
  var c23_0 = vec4<f32>(0.0); var c23_1 = vec4<f32>(0.0); var c23_2 = vec4<f32>(0.0); var c23_3 = vec4<f32>(0.0);
  var c24_0 = vec4<f32>(0.0); var c24_1 = vec4<f32>(0.0); var c24_2 = vec4<f32>(0.0); var c24_3 = vec4<f32>(0.0);
  var c25_0 = vec4<f32>(0.0); var c25_1 = vec4<f32>(0.0); var c25_2 = vec4<f32>(0.0); var c25_3 = vec4<f32>(0.0);
  var c26_0 = vec4<f32>(0.0); var c26_1 = vec4<f32>(0.0); var c26_2 = vec4<f32>(0.0); var c26_3 = vec4<f32>(0.0);
  var c27_0 = vec4<f32>(0.0); var c27_1 = vec4<f32>(0.0); var c27_2 = vec4<f32>(0.0); var c27_3 = vec4<f32>(0.0);
  var c28_0 = vec4<f32>(0.0); var c28_1 = vec4<f32>(0.0); var c28_2 = vec4<f32>(0.0); var c28_3 = vec4<f32>(0.0);
  var c29_0 = vec4<f32>(0.0); var c29_1 = vec4<f32>(0.0); var c29_2 = vec4<f32>(0.0); var c29_3 = vec4<f32>(0.0);
  var c30_0 = vec4<f32>(0.0); var c30_1 = vec4<f32>(0.0); var c30_2 = vec4<f32>(0.0); var c30_3 = vec4<f32>(0.0);
  var c31_0 = vec4<f32>(0.0); var c31_1 = vec4<f32>(0.0); var c31_2 = vec4<f32>(0.0); var c31_3 = vec4<f32>(0.0);

  for (var k4 = 0u; k4 < K4; k4++) {
    // W[4k4 + i, the 4 quads], i = 0..3, then X[m0 + r, 4k4 .. 4k4 + 3] row by row (the
    // same for all invocations), and one 4-term update per accumulator.
    let w0 = k4 * 4u * N4;
    let w1 = w0 + N4;
    let w2 = w1 + N4;
    let w3 = w2 + N4;
    let b00 = w[w0 + q0]; let b10 = w[w0 + q1]; let b20 = w[w0 + q2]; let b30 = w[w0 + q3];
    let b01 = w[w1 + q0]; let b11 = w[w1 + q1]; let b21 = w[w1 + q2]; let b31 = w[w1 + q3];
    let b02 = w[w2 + q0]; let b12 = w[w2 + q1]; let b22 = w[w2 + q2]; let b32 = w[w2 + q3];
    let b03 = w[w3 + q0]; let b13 = w[w3 + q1]; let b23 = w[w3 + q2]; let b33 = w[w3 + q3];
    let a0 = x[xr0 + k4];
    c0_0 += a0.x * b00 + a0.y * b01 + a0.z * b02 + a0.w * b03;
    c0_1 += a0.x * b10 + a0.y * b11 + a0.z * b12 + a0.w * b13;
    c0_2 += a0.x * b20 + a0.y * b21 + a0.z * b22 + a0.w * b23;
    c0_3 += a0.x * b30 + a0.y * b31 + a0.z * b32 + a0.w * b33;
    let a1 = x[xr1 + k4];
    c1_0 += a1.x * b00 + a1.y * b01 + a1.z * b02 + a1.w * b03;
    c1_1 += a1.x * b10 + a1.y * b11 + a1.z * b12 + a1.w * b13;
    c1_2 += a1.x * b20 + a1.y * b21 + a1.z * b22 + a1.w * b23;
    c1_3 += a1.x * b30 + a1.y * b31 + a1.z * b32 + a1.w * b33;
    let a2 = x[xr2 + k4];
    c2_0 += a2.x * b00 + a2.y * b01 + a2.z * b02 + a2.w * b03;
    c2_1 += a2.x * b10 + a2.y * b11 + a2.z * b12 + a2.w * b13;
    c2_2 += a2.x * b20 + a2.y * b21 + a2.z * b22 + a2.w * b23;
    c2_3 += a2.x * b30 + a2.y * b31 + a2.z * b32 + a2.w * b33;
    let a3 = x[xr3 + k4];
    c3_0 += a3.x * b00 + a3.y * b01 + a3.z * b02 + a3.w * b03;
    c3_1 += a3.x * b10 + a3.y * b11 + a3.z * b12 + a3.w * b13;
    c3_2 += a3.x * b20 + a3.y * b21 + a3.z * b22 + a3.w * b23;
    c3_3 += a3.x * b30 + a3.y * b31 + a3.z * b32 + a3.w * b33;
    let a4 = x[xr4 + k4];
    c4_0 += a4.x * b00 + a4.y * b01 + a4.z * b02 + a4.w * b03;
    c4_1 += a4.x * b10 + a4.y * b11 + a4.z * b12 + a4.w * b13;
    c4_2 += a4.x * b20 + a4.y * b21 + a4.z * b22 + a4.w * b23;
    c4_3 += a4.x * b30 + a4.y * b31 + a4.z * b32 + a4.w * b33;
    let a5 = x[xr5 + k4];
    c5_0 += a5.x * b00 + a5.y * b01 + a5.z * b02 + a5.w * b03;
    c5_1 += a5.x * b10 + a5.y * b11 + a5.z * b12 + a5.w * b13;
    c5_2 += a5.x * b20 + a5.y * b21 + a5.z * b22 + a5.w * b23;
    c5_3 += a5.x * b30 + a5.y * b31 + a5.z * b32 + a5.w * b33;
    let a6 = x[xr6 + k4];
    c6_0 += a6.x * b00 + a6.y * b01 + a6.z * b02 + a6.w * b03;
    c6_1 += a6.x * b10 + a6.y * b11 + a6.z * b12 + a6.w * b13;
    c6_2 += a6.x * b20 + a6.y * b21 + a6.z * b22 + a6.w * b23;
    c6_3 += a6.x * b30 + a6.y * b31 + a6.z * b32 + a6.w * b33;
    let a7 = x[xr7 + k4];
    c7_0 += a7.x * b00 + a7.y * b01 + a7.z * b02 + a7.w * b03;
    c7_1 += a7.x * b10 + a7.y * b11 + a7.z * b12 + a7.w * b13;
    c7_2 += a7.x * b20 + a7.y * b21 + a7.z * b22 + a7.w * b23;
    c7_3 += a7.x * b30 + a7.y * b31 + a7.z * b32 + a7.w * b33;
    let a8 = x[xr8 + k4];
    c8_0 += a8.x * b00 + a8.y * b01 + a8.z * b02 + a8.w * b03;
    c8_1 += a8.x * b10 + a8.y * b11 + a8.z * b12 + a8.w * b13;
    c8_2 += a8.x * b20 + a8.y * b21 + a8.z * b22 + a8.w * b23;
    c8_3 += a8.x * b30 + a8.y * b31 + a8.z * b32 + a8.w * b33;
    let a9 = x[xr9 + k4];
    c9_0 += a9.x * b00 + a9.y * b01 + a9.z * b02 + a9.w * b03;
    c9_1 += a9.x * b10 + a9.y * b11 + a9.z * b12 + a9.w * b13;
    c9_2 += a9.x * b20 + a9.y * b21 + a9.z * b22 + a9.w * b23;
    c9_3 += a9.x * b30 + a9.y * b31 + a9.z * b32 + a9.w * b33;
    let a10 = x[xr10 + k4];
    c10_0 += a10.x * b00 + a10.y * b01 + a10.z * b02 + a10.w * b03;
    c10_1 += a10.x * b10 + a10.y * b11 + a10.z * b12 + a10.w * b13;
    c10_2 += a10.x * b20 + a10.y * b21 + a10.z * b22 + a10.w * b23;
    c10_3 += a10.x * b30 + a10.y * b31 + a10.z * b32 + a10.w * b33;
    let a11 = x[xr11 + k4];
    c11_0 += a11.x * b00 + a11.y * b01 + a11.z * b02 + a11.w * b03;
    c11_1 += a11.x * b10 + a11.y * b11 + a11.z * b12 + a11.w * b13;
    c11_2 += a11.x * b20 + a11.y * b21 + a11.z * b22 + a11.w * b23;
    c11_3 += a11.x * b30 + a11.y * b31 + a11.z * b32 + a11.w * b33;
    let a12 = x[xr12 + k4];
    c12_0 += a12.x * b00 + a12.y * b01 + a12.z * b02 + a12.w * b03;
    c12_1 += a12.x * b10 + a12.y * b11 + a12.z * b12 + a12.w * b13;
    c12_2 += a12.x * b20 + a12.y * b21 + a12.z * b22 + a12.w * b23;
    c12_3 += a12.x * b30 + a12.y * b31 + a12.z * b32 + a12.w * b33;
    let a13 = x[xr13 + k4];
    c13_0 += a13.x * b00 + a13.y * b01 + a13.z * b02 + a13.w * b03;
    c13_1 += a13.x * b10 + a13.y * b11 + a13.z * b12 + a13.w * b13;
    c13_2 += a13.x * b20 + a13.y * b21 + a13.z * b22 + a13.w * b23;
    c13_3 += a13.x * b30 + a13.y * b31 + a13.z * b32 + a13.w * b33;
    let a14 = x[xr14 + k4];
    c14_0 += a14.x * b00 + a14.y * b01 + a14.z * b02 + a14.w * b03;
    c14_1 += a14.x * b10 + a14.y * b11 + a14.z * b12 + a14.w * b13;
    c14_2 += a14.x * b20 + a14.y * b21 + a14.z * b22 + a14.w * b23;
    c14_3 += a14.x * b30 + a14.y * b31 + a14.z * b32 + a14.w * b33;
    let a15 = x[xr15 + k4];
    c15_0 += a15.x * b00 + a15.y * b01 + a15.z * b02 + a15.w * b03;
    c15_1 += a15.x * b10 + a15.y * b11 + a15.z * b12 + a15.w * b13;
    c15_2 += a15.x * b20 + a15.y * b21 + a15.z * b22 + a15.w * b23;
    c15_3 += a15.x * b30 + a15.y * b31 + a15.z * b32 + a15.w * b33;
    let a16 = x[xr16 + k4];
    c16_0 += a16.x * b00 + a16.y * b01 + a16.z * b02 + a16.w * b03;
    c16_1 += a16.x * b10 + a16.y * b11 + a16.z * b12 + a16.w * b13;
    c16_2 += a16.x * b20 + a16.y * b21 + a16.z * b22 + a16.w * b23;
    c16_3 += a16.x * b30 + a16.y * b31 + a16.z * b32 + a16.w * b33;
    let a17 = x[xr17 + k4];
    c17_0 += a17.x * b00 + a17.y * b01 + a17.z * b02 + a17.w * b03;
    c17_1 += a17.x * b10 + a17.y * b11 + a17.z * b12 + a17.w * b13;
    c17_2 += a17.x * b20 + a17.y * b21 + a17.z * b22 + a17.w * b23;
    c17_3 += a17.x * b30 + a17.y * b31 + a17.z * b32 + a17.w * b33;
    let a18 = x[xr18 + k4];
    c18_0 += a18.x * b00 + a18.y * b01 + a18.z * b02 + a18.w * b03;
    c18_1 += a18.x * b10 + a18.y * b11 + a18.z * b12 + a18.w * b13;
    c18_2 += a18.x * b20 + a18.y * b21 + a18.z * b22 + a18.w * b23;
    c18_3 += a18.x * b30 + a18.y * b31 + a18.z * b32 + a18.w * b33;
    let a19 = x[xr19 + k4];
    c19_0 += a19.x * b00 + a19.y * b01 + a19.z * b02 + a19.w * b03;
    c19_1 += a19.x * b10 + a19.y * b11 + a19.z * b12 + a19.w * b13;
    c19_2 += a19.x * b20 + a19.y * b21 + a19.z * b22 + a19.w * b23;
    c19_3 += a19.x * b30 + a19.y * b31 + a19.z * b32 + a19.w * b33;
    let a20 = x[xr20 + k4];
    c20_0 += a20.x * b00 + a20.y * b01 + a20.z * b02 + a20.w * b03;
    c20_1 += a20.x * b10 + a20.y * b11 + a20.z * b12 + a20.w * b13;
    c20_2 += a20.x * b20 + a20.y * b21 + a20.z * b22 + a20.w * b23;
    c20_3 += a20.x * b30 + a20.y * b31 + a20.z * b32 + a20.w * b33;
    let a21 = x[xr21 + k4];
    c21_0 += a21.x * b00 + a21.y * b01 + a21.z * b02 + a21.w * b03;
    c21_1 += a21.x * b10 + a21.y * b11 + a21.z * b12 + a21.w * b13;
    c21_2 += a21.x * b20 + a21.y * b21 + a21.z * b22 + a21.w * b23;
    c21_3 += a21.x * b30 + a21.y * b31 + a21.z * b32 + a21.w * b33;
    let a22 = x[xr22 + k4];
    c22_0 += a22.x * b00 + a22.y * b01 + a22.z * b02 + a22.w * b03;
    c22_1 += a22.x * b10 + a22.y * b11 + a22.z * b12 + a22.w * b13;
    c22_2 += a22.x * b20 + a22.y * b21 + a22.z * b22 + a22.w * b23;
    c22_3 += a22.x * b30 + a22.y * b31 + a22.z * b32 + a22.w * b33;
    let a23 = x[xr23 + k4];
    c23_0 += a23.x * b00 + a23.y * b01 + a23.z * b02 + a23.w * b03;
    c23_1 += a23.x * b10 + a23.y * b11 + a23.z * b12 + a23.w * b13;
    c23_2 += a23.x * b20 + a23.y * b21 + a23.z * b22 + a23.w * b23;
    c23_3 += a23.x * b30 + a23.y * b31 + a23.z * b32 + a23.w * b33;
    let a24 = x[xr24 + k4];
    c24_0 += a24.x * b00 + a24.y * b01 + a24.z * b02 + a24.w * b03;
    c24_1 += a24.x * b10 + a24.y * b11 + a24.z * b12 + a24.w * b13;
    c24_2 += a24.x * b20 + a24.y * b21 + a24.z * b22 + a24.w * b23;
    c24_3 += a24.x * b30 + a24.y * b31 + a24.z * b32 + a24.w * b33;
    let a25 = x[xr25 + k4];
    c25_0 += a25.x * b00 + a25.y * b01 + a25.z * b02 + a25.w * b03;
    c25_1 += a25.x * b10 + a25.y * b11 + a25.z * b12 + a25.w * b13;
    c25_2 += a25.x * b20 + a25.y * b21 + a25.z * b22 + a25.w * b23;
    c25_3 += a25.x * b30 + a25.y * b31 + a25.z * b32 + a25.w * b33;
    let a26 = x[xr26 + k4];
    c26_0 += a26.x * b00 + a26.y * b01 + a26.z * b02 + a26.w * b03;
    c26_1 += a26.x * b10 + a26.y * b11 + a26.z * b12 + a26.w * b13;
    c26_2 += a26.x * b20 + a26.y * b21 + a26.z * b22 + a26.w * b23;
    c26_3 += a26.x * b30 + a26.y * b31 + a26.z * b32 + a26.w * b33;
    let a27 = x[xr27 + k4];
    c27_0 += a27.x * b00 + a27.y * b01 + a27.z * b02 + a27.w * b03;
    c27_1 += a27.x * b10 + a27.y * b11 + a27.z * b12 + a27.w * b13;
    c27_2 += a27.x * b20 + a27.y * b21 + a27.z * b22 + a27.w * b23;
    c27_3 += a27.x * b30 + a27.y * b31 + a27.z * b32 + a27.w * b33;
    let a28 = x[xr28 + k4];
    c28_0 += a28.x * b00 + a28.y * b01 + a28.z * b02 + a28.w * b03;
    c28_1 += a28.x * b10 + a28.y * b11 + a28.z * b12 + a28.w * b13;
    c28_2 += a28.x * b20 + a28.y * b21 + a28.z * b22 + a28.w * b23;
    c28_3 += a28.x * b30 + a28.y * b31 + a28.z * b32 + a28.w * b33;
    let a29 = x[xr29 + k4];
    c29_0 += a29.x * b00 + a29.y * b01 + a29.z * b02 + a29.w * b03;
    c29_1 += a29.x * b10 + a29.y * b11 + a29.z * b12 + a29.w * b13;
    c29_2 += a29.x * b20 + a29.y * b21 + a29.z * b22 + a29.w * b23;
    c29_3 += a29.x * b30 + a29.y * b31 + a29.z * b32 + a29.w * b33;
    let a30 = x[xr30 + k4];
    c30_0 += a30.x * b00 + a30.y * b01 + a30.z * b02 + a30.w * b03;
    c30_1 += a30.x * b10 + a30.y * b11 + a30.z * b12 + a30.w * b13;
    c30_2 += a30.x * b20 + a30.y * b21 + a30.z * b22 + a30.w * b23;
    c30_3 += a30.x * b30 + a30.y * b31 + a30.z * b32 + a30.w * b33;
    let a31 = x[xr31 + k4];
    c31_0 += a31.x * b00 + a31.y * b01 + a31.z * b02 + a31.w * b03;
    c31_1 += a31.x * b10 + a31.y * b11 + a31.z * b12 + a31.w * b13;
    c31_2 += a31.x * b20 + a31.y * b21 + a31.z * b22 + a31.w * b23;
    c31_3 += a31.x * b30 + a31.y * b31 + a31.z * b32 + a31.w * b33;
  }

  store_row(m0 + 0u, qb, c0_0, c0_1, c0_2, c0_3);
  store_row(m0 + 1u, qb, c1_0, c1_1, c1_2, c1_3);
  store_row(m0 + 2u, qb, c2_0, c2_1, c2_2, c2_3);
  store_row(m0 + 3u, qb, c3_0, c3_1, c3_2, c3_3);
  store_row(m0 + 4u, qb, c4_0, c4_1, c4_2, c4_3);
  store_row(m0 + 5u, qb, c5_0, c5_1, c5_2, c5_3);
  store_row(m0 + 6u, qb, c6_0, c6_1, c6_2, c6_3);
  store_row(m0 + 7u, qb, c7_0, c7_1, c7_2, c7_3);
  store_row(m0 + 8u, qb, c8_0, c8_1, c8_2, c8_3);
  store_row(m0 + 9u, qb, c9_0, c9_1, c9_2, c9_3);
  store_row(m0 + 10u, qb, c10_0, c10_1, c10_2, c10_3);
  store_row(m0 + 11u, qb, c11_0, c11_1, c11_2, c11_3);
  store_row(m0 + 12u, qb, c12_0, c12_1, c12_2, c12_3);
  store_row(m0 + 13u, qb, c13_0, c13_1, c13_2, c13_3);
  store_row(m0 + 14u, qb, c14_0, c14_1, c14_2, c14_3);
  store_row(m0 + 15u, qb, c15_0, c15_1, c15_2, c15_3);
  store_row(m0 + 16u, qb, c16_0, c16_1, c16_2, c16_3);
  store_row(m0 + 17u, qb, c17_0, c17_1, c17_2, c17_3);
  store_row(m0 + 18u, qb, c18_0, c18_1, c18_2, c18_3);
  store_row(m0 + 19u, qb, c19_0, c19_1, c19_2, c19_3);
  store_row(m0 + 20u, qb, c20_0, c20_1, c20_2, c20_3);
  store_row(m0 + 21u, qb, c21_0, c21_1, c21_2, c21_3);
  store_row(m0 + 22u, qb, c22_0, c22_1, c22_2, c22_3);
  store_row(m0 + 23u, qb, c23_0, c23_1, c23_2, c23_3);
  store_row(m0 + 24u, qb, c24_0, c24_1, c24_2, c24_3);
  store_row(m0 + 25u, qb, c25_0, c25_1, c25_2, c25_3);
  store_row(m0 + 26u, qb, c26_0, c26_1, c26_2, c26_3);
  store_row(m0 + 27u, qb, c27_0, c27_1, c27_2, c27_3);
  store_row(m0 + 28u, qb, c28_0, c28_1, c28_2, c28_3);
  store_row(m0 + 29u, qb, c29_0, c29_1, c29_2, c29_3);
  store_row(m0 + 30u, qb, c30_0, c30_1, c30_2, c30_3);
  store_row(m0 + 31u, qb, c31_0, c31_1, c31_2, c31_3);
}

// Row gm, column quads q, q + 8, q + 16, q + 24, with bias/accumulate and bounds.
fn store_row(gm: u32, q: u32, v0: vec4<f32>, v1: vec4<f32>, v2: vec4<f32>, v3: vec4<f32>) {
  if (gm >= u.M) { return; }
  store4(gm, q * 4u, v0);
  store4(gm, (q + 8u) * 4u, v1);
  store4(gm, (q + 16u) * 4u, v2);
  store4(gm, (q + 24u) * 4u, v3);
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
