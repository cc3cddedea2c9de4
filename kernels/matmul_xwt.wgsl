// matmul_backward: the input gradient of a linear layer, dX[M,K] = dY[M,N] · W[K,N]ᵀ
// (+ dX, when accumulating), for N a multiple of 4. The base is frozen, so no weight gradient
// is computed. The same "A · Bᵀ" form computes the tied LM head's logits: logits[M,Vc] =
// h[M,d] · wte_chunk[Vc,d]ᵀ (dY = h, W = the wte rows of one vocabulary chunk).
// src/gpu/matmul_backward.ts dispatches kernels/matmul_backward_unaligned.wgsl (same
// bindings, any shape) when N is not a multiple of 4.
//
// Bindings (group 0):
//   0 uniform    u: { M, K, N, flags }    flags bit 1: accumulate into dx
//   1 read       dy: [M, N / 4] vec4<f32> (dY row-major, N % 4 == 0)
//   2 read       w: [K, N / 4] vec4<f32> (W row-major)
//   3 read_write dx: [M, K] f32 row-major
// Dispatch: (ceil(K / 128), ceil(M / 16), 1), workgroup of 8 invocations.
// Tiling: as matmul_forward (no workgroup memory, no barrier; see there for why): a
// workgroup owns a 16 x 128 output tile, and invocation `lid` owns its 16 rows x 16
// columns, columns wg.x * 128 + lid + 8j, j = 0..15, in 64 named vec4 accumulators. Both
// operands are read along N, contiguous in memory for both; per 4 steps of N an invocation
// loads 16 vec4 of dY (the same for all invocations) and 16 vec4 of W for 256 dot products.
// Assumptions: M, K >= 1, N >= 4, N % 4 == 0; rows and columns past the edges are clamped
// for the loads and skipped by the stores; no workgroup memory.

struct Uniforms { M: u32, K: u32, N: u32, flags: u32 }

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> dy: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

const BM = 16u; // output rows per workgroup
const WG = 8u; // invocations per workgroup
const JN = 16u; // output columns per invocation

@compute @workgroup_size(8, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let N4 = u.N / 4u;
  let m0 = wg.y * BM;
  let cb = wg.x * (WG * JN) + lid; // this invocation's first output column
  // Row offsets of dY, clamped into range: rows past M are computed but not stored.
  let dr0 = min(m0 + 0u, u.M - 1u) * N4;
  let dr1 = min(m0 + 1u, u.M - 1u) * N4;
  let dr2 = min(m0 + 2u, u.M - 1u) * N4;
  let dr3 = min(m0 + 3u, u.M - 1u) * N4;
  let dr4 = min(m0 + 4u, u.M - 1u) * N4;
  let dr5 = min(m0 + 5u, u.M - 1u) * N4;
  let dr6 = min(m0 + 6u, u.M - 1u) * N4;
  let dr7 = min(m0 + 7u, u.M - 1u) * N4;
  let dr8 = min(m0 + 8u, u.M - 1u) * N4;
  let dr9 = min(m0 + 9u, u.M - 1u) * N4;
  let dr10 = min(m0 + 10u, u.M - 1u) * N4;
  let dr11 = min(m0 + 11u, u.M - 1u) * N4;
  let dr12 = min(m0 + 12u, u.M - 1u) * N4;
  let dr13 = min(m0 + 13u, u.M - 1u) * N4;
  let dr14 = min(m0 + 14u, u.M - 1u) * N4;
  let dr15 = min(m0 + 15u, u.M - 1u) * N4;
  // Rows of W for output columns cb + 8j, j = 0..15, clamped likewise.
  let wr0 = min(cb + 0u, u.K - 1u) * N4;
  let wr1 = min(cb + 8u, u.K - 1u) * N4;
  let wr2 = min(cb + 16u, u.K - 1u) * N4;
  let wr3 = min(cb + 24u, u.K - 1u) * N4;
  let wr4 = min(cb + 32u, u.K - 1u) * N4;
  let wr5 = min(cb + 40u, u.K - 1u) * N4;
  let wr6 = min(cb + 48u, u.K - 1u) * N4;
  let wr7 = min(cb + 56u, u.K - 1u) * N4;
  let wr8 = min(cb + 64u, u.K - 1u) * N4;
  let wr9 = min(cb + 72u, u.K - 1u) * N4;
  let wr10 = min(cb + 80u, u.K - 1u) * N4;
  let wr11 = min(cb + 88u, u.K - 1u) * N4;
  let wr12 = min(cb + 96u, u.K - 1u) * N4;
  let wr13 = min(cb + 104u, u.K - 1u) * N4;
  let wr14 = min(cb + 112u, u.K - 1u) * N4;
  let wr15 = min(cb + 120u, u.K - 1u) * N4;
  // c{r}_{q}: row m0 + r, columns cb + 8 * (4q + 0..3).
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

  for (var n4 = 0u; n4 < N4; n4++) {
    let b0 = w[wr0 + n4]; let b1 = w[wr1 + n4]; let b2 = w[wr2 + n4]; let b3 = w[wr3 + n4];
    let b4 = w[wr4 + n4]; let b5 = w[wr5 + n4]; let b6 = w[wr6 + n4]; let b7 = w[wr7 + n4];
    let b8 = w[wr8 + n4]; let b9 = w[wr9 + n4]; let b10 = w[wr10 + n4]; let b11 = w[wr11 + n4];
    let b12 = w[wr12 + n4]; let b13 = w[wr13 + n4]; let b14 = w[wr14 + n4]; let b15 = w[wr15 + n4];
    let a0 = dy[dr0 + n4];
    c0_0 += vec4<f32>(dot(a0, b0), dot(a0, b1), dot(a0, b2), dot(a0, b3));
    c0_1 += vec4<f32>(dot(a0, b4), dot(a0, b5), dot(a0, b6), dot(a0, b7));
    c0_2 += vec4<f32>(dot(a0, b8), dot(a0, b9), dot(a0, b10), dot(a0, b11));
    c0_3 += vec4<f32>(dot(a0, b12), dot(a0, b13), dot(a0, b14), dot(a0, b15));
    let a1 = dy[dr1 + n4];
    c1_0 += vec4<f32>(dot(a1, b0), dot(a1, b1), dot(a1, b2), dot(a1, b3));
    c1_1 += vec4<f32>(dot(a1, b4), dot(a1, b5), dot(a1, b6), dot(a1, b7));
    c1_2 += vec4<f32>(dot(a1, b8), dot(a1, b9), dot(a1, b10), dot(a1, b11));
    c1_3 += vec4<f32>(dot(a1, b12), dot(a1, b13), dot(a1, b14), dot(a1, b15));
    let a2 = dy[dr2 + n4];
    c2_0 += vec4<f32>(dot(a2, b0), dot(a2, b1), dot(a2, b2), dot(a2, b3));
    c2_1 += vec4<f32>(dot(a2, b4), dot(a2, b5), dot(a2, b6), dot(a2, b7));
    c2_2 += vec4<f32>(dot(a2, b8), dot(a2, b9), dot(a2, b10), dot(a2, b11));
    c2_3 += vec4<f32>(dot(a2, b12), dot(a2, b13), dot(a2, b14), dot(a2, b15));
    let a3 = dy[dr3 + n4];
    c3_0 += vec4<f32>(dot(a3, b0), dot(a3, b1), dot(a3, b2), dot(a3, b3));
    c3_1 += vec4<f32>(dot(a3, b4), dot(a3, b5), dot(a3, b6), dot(a3, b7));
    c3_2 += vec4<f32>(dot(a3, b8), dot(a3, b9), dot(a3, b10), dot(a3, b11));
    c3_3 += vec4<f32>(dot(a3, b12), dot(a3, b13), dot(a3, b14), dot(a3, b15));
    let a4 = dy[dr4 + n4];
    c4_0 += vec4<f32>(dot(a4, b0), dot(a4, b1), dot(a4, b2), dot(a4, b3));
    c4_1 += vec4<f32>(dot(a4, b4), dot(a4, b5), dot(a4, b6), dot(a4, b7));
    c4_2 += vec4<f32>(dot(a4, b8), dot(a4, b9), dot(a4, b10), dot(a4, b11));
    c4_3 += vec4<f32>(dot(a4, b12), dot(a4, b13), dot(a4, b14), dot(a4, b15));
    let a5 = dy[dr5 + n4];
    c5_0 += vec4<f32>(dot(a5, b0), dot(a5, b1), dot(a5, b2), dot(a5, b3));
    c5_1 += vec4<f32>(dot(a5, b4), dot(a5, b5), dot(a5, b6), dot(a5, b7));
    c5_2 += vec4<f32>(dot(a5, b8), dot(a5, b9), dot(a5, b10), dot(a5, b11));
    c5_3 += vec4<f32>(dot(a5, b12), dot(a5, b13), dot(a5, b14), dot(a5, b15));
    let a6 = dy[dr6 + n4];
    c6_0 += vec4<f32>(dot(a6, b0), dot(a6, b1), dot(a6, b2), dot(a6, b3));
    c6_1 += vec4<f32>(dot(a6, b4), dot(a6, b5), dot(a6, b6), dot(a6, b7));
    c6_2 += vec4<f32>(dot(a6, b8), dot(a6, b9), dot(a6, b10), dot(a6, b11));
    c6_3 += vec4<f32>(dot(a6, b12), dot(a6, b13), dot(a6, b14), dot(a6, b15));
    let a7 = dy[dr7 + n4];
    c7_0 += vec4<f32>(dot(a7, b0), dot(a7, b1), dot(a7, b2), dot(a7, b3));
    c7_1 += vec4<f32>(dot(a7, b4), dot(a7, b5), dot(a7, b6), dot(a7, b7));
    c7_2 += vec4<f32>(dot(a7, b8), dot(a7, b9), dot(a7, b10), dot(a7, b11));
    c7_3 += vec4<f32>(dot(a7, b12), dot(a7, b13), dot(a7, b14), dot(a7, b15));
    let a8 = dy[dr8 + n4];
    c8_0 += vec4<f32>(dot(a8, b0), dot(a8, b1), dot(a8, b2), dot(a8, b3));
    c8_1 += vec4<f32>(dot(a8, b4), dot(a8, b5), dot(a8, b6), dot(a8, b7));
    c8_2 += vec4<f32>(dot(a8, b8), dot(a8, b9), dot(a8, b10), dot(a8, b11));
    c8_3 += vec4<f32>(dot(a8, b12), dot(a8, b13), dot(a8, b14), dot(a8, b15));
    let a9 = dy[dr9 + n4];
    c9_0 += vec4<f32>(dot(a9, b0), dot(a9, b1), dot(a9, b2), dot(a9, b3));
    c9_1 += vec4<f32>(dot(a9, b4), dot(a9, b5), dot(a9, b6), dot(a9, b7));
    c9_2 += vec4<f32>(dot(a9, b8), dot(a9, b9), dot(a9, b10), dot(a9, b11));
    c9_3 += vec4<f32>(dot(a9, b12), dot(a9, b13), dot(a9, b14), dot(a9, b15));
    let a10 = dy[dr10 + n4];
    c10_0 += vec4<f32>(dot(a10, b0), dot(a10, b1), dot(a10, b2), dot(a10, b3));
    c10_1 += vec4<f32>(dot(a10, b4), dot(a10, b5), dot(a10, b6), dot(a10, b7));
    c10_2 += vec4<f32>(dot(a10, b8), dot(a10, b9), dot(a10, b10), dot(a10, b11));
    c10_3 += vec4<f32>(dot(a10, b12), dot(a10, b13), dot(a10, b14), dot(a10, b15));
    let a11 = dy[dr11 + n4];
    c11_0 += vec4<f32>(dot(a11, b0), dot(a11, b1), dot(a11, b2), dot(a11, b3));
    c11_1 += vec4<f32>(dot(a11, b4), dot(a11, b5), dot(a11, b6), dot(a11, b7));
    c11_2 += vec4<f32>(dot(a11, b8), dot(a11, b9), dot(a11, b10), dot(a11, b11));
    c11_3 += vec4<f32>(dot(a11, b12), dot(a11, b13), dot(a11, b14), dot(a11, b15));
    let a12 = dy[dr12 + n4];
    c12_0 += vec4<f32>(dot(a12, b0), dot(a12, b1), dot(a12, b2), dot(a12, b3));
    c12_1 += vec4<f32>(dot(a12, b4), dot(a12, b5), dot(a12, b6), dot(a12, b7));
    c12_2 += vec4<f32>(dot(a12, b8), dot(a12, b9), dot(a12, b10), dot(a12, b11));
    c12_3 += vec4<f32>(dot(a12, b12), dot(a12, b13), dot(a12, b14), dot(a12, b15));
    let a13 = dy[dr13 + n4];
    c13_0 += vec4<f32>(dot(a13, b0), dot(a13, b1), dot(a13, b2), dot(a13, b3));
    c13_1 += vec4<f32>(dot(a13, b4), dot(a13, b5), dot(a13, b6), dot(a13, b7));
    c13_2 += vec4<f32>(dot(a13, b8), dot(a13, b9), dot(a13, b10), dot(a13, b11));
    c13_3 += vec4<f32>(dot(a13, b12), dot(a13, b13), dot(a13, b14), dot(a13, b15));
    let a14 = dy[dr14 + n4];
    c14_0 += vec4<f32>(dot(a14, b0), dot(a14, b1), dot(a14, b2), dot(a14, b3));
    c14_1 += vec4<f32>(dot(a14, b4), dot(a14, b5), dot(a14, b6), dot(a14, b7));
    c14_2 += vec4<f32>(dot(a14, b8), dot(a14, b9), dot(a14, b10), dot(a14, b11));
    c14_3 += vec4<f32>(dot(a14, b12), dot(a14, b13), dot(a14, b14), dot(a14, b15));
    let a15 = dy[dr15 + n4];
    c15_0 += vec4<f32>(dot(a15, b0), dot(a15, b1), dot(a15, b2), dot(a15, b3));
    c15_1 += vec4<f32>(dot(a15, b4), dot(a15, b5), dot(a15, b6), dot(a15, b7));
    c15_2 += vec4<f32>(dot(a15, b8), dot(a15, b9), dot(a15, b10), dot(a15, b11));
    c15_3 += vec4<f32>(dot(a15, b12), dot(a15, b13), dot(a15, b14), dot(a15, b15));
  }

  store_row(m0 + 0u, cb, c0_0, c0_1, c0_2, c0_3);
  store_row(m0 + 1u, cb, c1_0, c1_1, c1_2, c1_3);
  store_row(m0 + 2u, cb, c2_0, c2_1, c2_2, c2_3);
  store_row(m0 + 3u, cb, c3_0, c3_1, c3_2, c3_3);
  store_row(m0 + 4u, cb, c4_0, c4_1, c4_2, c4_3);
  store_row(m0 + 5u, cb, c5_0, c5_1, c5_2, c5_3);
  store_row(m0 + 6u, cb, c6_0, c6_1, c6_2, c6_3);
  store_row(m0 + 7u, cb, c7_0, c7_1, c7_2, c7_3);
  store_row(m0 + 8u, cb, c8_0, c8_1, c8_2, c8_3);
  store_row(m0 + 9u, cb, c9_0, c9_1, c9_2, c9_3);
  store_row(m0 + 10u, cb, c10_0, c10_1, c10_2, c10_3);
  store_row(m0 + 11u, cb, c11_0, c11_1, c11_2, c11_3);
  store_row(m0 + 12u, cb, c12_0, c12_1, c12_2, c12_3);
  store_row(m0 + 13u, cb, c13_0, c13_1, c13_2, c13_3);
  store_row(m0 + 14u, cb, c14_0, c14_1, c14_2, c14_3);
  store_row(m0 + 15u, cb, c15_0, c15_1, c15_2, c15_3);
}

// Row gm; v_q holds columns c + 8 * (4q + e), e = 0..3 (x, y, z, w); accumulate and bounds.
fn store_row(gm: u32, c: u32, v0: vec4<f32>, v1: vec4<f32>, v2: vec4<f32>, v3: vec4<f32>) {
  if (gm >= u.M) { return; }
  store4(gm, c, v0);
  store4(gm, c + 32u, v1);
  store4(gm, c + 64u, v2);
  store4(gm, c + 96u, v3);
}

// Columns gk0, gk0 + 8, gk0 + 16, gk0 + 24 of row gm.
fn store4(gm: u32, gk0: u32, v: vec4<f32>) {
  let accumulate = (u.flags & 2u) != 0u;
  for (var e = 0u; e < 4u; e++) {
    let gk = gk0 + 8u * e;
    if (gk >= u.K) { return; }
    var o = v[e];
    let i = gm * u.K + gk;
    if (accumulate) { o += dx[i]; }
    dx[i] = o;
  }
}
