/**
 * The generator of the hardware set's matmuls (`kernels/matmul_xw_tiled.wgsl`,
 * `kernels/matmul_xwt_tiled.wgsl` and their `_f16` variants): the classic GPU tiling. A
 * workgroup of (BN/TN) x (BM/TM) invocations owns a BM x BN output tile; per BK steps of the
 * reduction it stages an X tile and a W tile in workgroup memory with vec4 loads from global
 * memory (coalesced along the reduction, or along N for W [K, N]), waits at a barrier, and each
 * invocation updates its TM x TN outputs from workgroup memory (TM scalar loads and TN/4 vec4
 * loads per step for TM·TN multiply-adds). Rows of an invocation are ty + i·(BM/TM) and column
 * quads tx + q·(BN/TN), so neighbouring invocations read neighbouring workgroup-memory words.
 *
 * f16: the tiles are stored as f16 (half the workgroup memory and its bandwidth), the products
 * are f16, and each product is widened to f32 before it is accumulated: see docs/kernels.md for
 * the error, tests/gpu/matmul_f16_test.ts for its check against a CPU emulation of the rounding.
 *
 * Bindings are those of the software kernel of the same maths, so a module swaps the pipeline
 * and the grid only:
 *   xw:  0 uniform {M, K, N, flags}, 1 x [M, K/4] vec4, 2 w [K, N/4] vec4, 3 bias [N], 4 y [M, N]
 *   xwt: 0 uniform {M, N, K, flags}, 1 x [M, K/4] vec4, 2 w [N, K/4] vec4, 3 y [M, N]
 * (flags bit 0: add bias, bit 1: accumulate into y). xw needs K and N multiples of 4, xwt K.
 *
 * @module
 */
import type { Variant } from "./variants.ts";

/** Parameters of a generated tiled kernel. */
export interface TiledParams {
  /** xw: Y = X·W (W [K, N]); xwt: Y = X·Wᵀ (W [N, K]). */
  kind: "xw" | "xwt";
  /** Output rows per workgroup. */
  BM: number;
  /** Output columns per workgroup (a multiple of 4). */
  BN: number;
  /** Reduction steps per stage (a multiple of 4). */
  BK: number;
  /** Rows per invocation. */
  TM: number;
  /** Columns per invocation (a multiple of 4). */
  TN: number;
  /** Stage and multiply in f16, accumulate in f32 (needs the `shader-f16` feature). */
  f16: boolean;
}

const cdiv = (a: number, b: number) => Math.ceil(a / b);

/** Generate a tiled kernel (see the module comment). */
export function tiled(p: TiledParams): Variant & { workgroup: [number, number] } {
  const { kind, BM, BN, BK, TM, TN, f16 } = p;
  const WX = BN / TN, WY = BM / TM, NT = WX * WY;
  const check = (ok: boolean, what: string) => {
    if (!ok) throw new Error(`tiled(${JSON.stringify(p)}): ${what}`);
  };
  check(Number.isInteger(WX) && Number.isInteger(WY), "BM/TM and BN/TN must be integers");
  check(TN % 4 === 0 && BN % 4 === 0 && BK % 4 === 0, "TN, BN and BK must be multiples of 4");
  const xLoads = (BM * BK) / 4, wLoads = (BN * BK) / 4;
  check(xLoads % NT === 0 && wLoads % NT === 0, "each tile must split evenly over invocations");
  const xw = kind === "xw";
  const S = f16 ? "f16" : "f32"; // the tiles' element type
  const Q = TN / 4; // column quads per invocation
  const rows = [...Array(TM).keys()];
  const quads = [...Array(Q).keys()];
  const uniform = xw
    ? "struct Uniforms { M: u32, K: u32, N: u32, flags: u32 }"
    : "struct Uniforms { M: u32, N: u32, K: u32, flags: u32 }";
  const bindings = xw
    ? `@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;`
    : `@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;`;
  // X tile: xs[k * BM + m] (scalars, k-major). Loaded along the reduction, 4 values per load.
  const loadX = `    for (var e = 0u; e < ${xLoads / NT}u; e++) {
      let idx = tid + e * ${NT}u;
      let mm = idx / ${BK / 4}u;
      let kq = idx % ${BK / 4}u;
      let gm = m0 + mm;
      let gq = k0 / 4u + kq;
      var v = vec4<f32>(0.0);
      if (gm < u.M && gq < K4) { v = x[gm * K4 + gq]; }
      for (var c = 0u; c < 4u; c++) { xs[(kq * 4u + c) * ${BM}u + mm] = ${
    f16 ? "f16(v[c])" : "v[c]"
  }; }
    }`;
  // W tile: ws[k * BN/4 + n/4] (vec4 over 4 output columns).
  const loadW = xw
    ? `    for (var e = 0u; e < ${wLoads / NT}u; e++) {
      let idx = tid + e * ${NT}u;
      let kk = idx / ${BN / 4}u;
      let nq = idx % ${BN / 4}u;
      let gk = k0 + kk;
      let gq = n0 / 4u + nq;
      var v = vec4<f32>(0.0);
      if (gk < u.K && gq < N4) { v = w[gk * N4 + gq]; }
      ws[kk * ${BN / 4}u + nq] = ${f16 ? "vec4<f16>(v)" : "v"};
    }`
    : `    for (var e = 0u; e < ${wLoads / NT}u; e++) {
      let idx = tid + e * ${NT}u;
      let nn = idx / ${BK / 4}u;
      let kq = idx % ${BK / 4}u;
      let gn = n0 + nn;
      let gq = k0 / 4u + kq;
      var v = vec4<f32>(0.0);
      if (gn < u.N && gq < K4) { v = w[gn * K4 + gq]; }
      for (var c = 0u; c < 4u; c++) { ws[(kq * 4u + c) * ${BN / 4}u + nn / 4u][nn % 4u] = ${
      f16 ? "f16(v[c])" : "v[c]"
    }; }
    }`;
  const widen = (e: string) => (f16 ? `vec4<f32>(${e})` : e);
  const inner = [
    ...rows.map((i) => `      let a${i} = xs[kk * ${BM}u + ty + ${i * WY}u];`),
    ...quads.map((q) => `      let b${q} = ws[kk * ${BN / 4}u + tx + ${q * WX}u];`),
    ...rows.flatMap((i) => quads.map((q) => `      c${i}_${q} += ${widen(`a${i} * b${q}`)};`)),
  ].join("\n");
  const code = `// generated: tiled ${kind} BM=${BM} BN=${BN} BK=${BK} TM=${TM} TN=${TN}${
    f16 ? " f16" : ""
  }
${f16 ? "enable f16;\n\n" : ""}${uniform}

@group(0) @binding(0) var<uniform> u: Uniforms;
${bindings}

var<workgroup> xs: array<${S}, ${BK * BM}>;
var<workgroup> ws: array<vec4<${S}>, ${(BK * BN) / 4}>;

@compute @workgroup_size(${WX}, ${WY}, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let tx = lid.x;
  let ty = lid.y;
  let tid = ty * ${WX}u + tx;
  let m0 = wg.y * ${BM}u;
  let n0 = wg.x * ${BN}u;
  let K4 = u.K / 4u;
${xw ? "  let N4 = u.N / 4u;\n" : ""}${
    rows.flatMap((i) => quads.map((q) => `  var c${i}_${q} = vec4<f32>(0.0);`)).join("\n")
  }
  for (var k0 = 0u; k0 < u.K; k0 += ${BK}u) {
${loadX}
${loadW}
    workgroupBarrier();
    for (var kk = 0u; kk < ${BK}u; kk++) {
${inner}
    }
    workgroupBarrier();
  }
${
    rows.flatMap((i) =>
      quads.map((q) => `  store4(m0 + ty + ${i * WY}u, n0 + (tx + ${q * WX}u) * 4u, c${i}_${q});`)
    ).join("\n")
  }
}

fn store4(gm: u32, gn0: u32, v: vec4<f32>) {
  if (gm >= u.M) { return; }
  for (var c = 0u; c < 4u; c++) {
    let gn = gn0 + c;
    if (gn >= u.N) { return; }
    var o = v[c];
${xw ? "    if ((u.flags & 1u) != 0u) { o += bias[gn]; }\n" : ""}    let i = gm * u.N + gn;
    if ((u.flags & 2u) != 0u) { o += y[i]; }
    y[i] = o;
  }
}
`;
  return {
    name: `tiled ${xw ? "fwd" : "bwd"} ${BM}x${BN}x${BK} t${TM}x${TN}${f16 ? " f16" : ""}`,
    kind: xw ? "fwd" : "bwd",
    code,
    // The bench's problem (M, K, N) (see variants.ts): fwd output [M, N]; bwd, timed as the
    // input gradient dX = dY·Wᵀ, output [M, K].
    grid: (M, K, N) => [cdiv(xw ? N : K, BN), cdiv(M, BM)],
    workgroup: [WX, WY],
  };
}
