// rmsnorm_forward: y = x * rstd * weight over the last axis, rstd = 1 / sqrt(mean(x^2) + eps)
// (Llama's RMSNorm: no mean subtraction, no bias), and rstd saved per row for the backward.
//
// Bindings (group 0):
//   0 uniform    u: { rows, C, eps }
//   1 read       x: [rows, C] f32
//   2 read       weight: [C] f32
//   3 read_write y: [rows, C] f32
//   4 read_write rstd: [rows] f32
// Dispatch: (rows, 1, 1), workgroup 64: one workgroup per row, strided over C, tree reduce.
// Assumptions: rows <= 65535 (one dispatch axis), any C >= 1.

struct Uniforms { rows: u32, C: u32, eps: f32, _pad: u32 }

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> rstd: array<f32>;

var<workgroup> red: array<f32, 64>;

fn reduce_sum(lid: u32, v: f32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
  let row = wg.x;
  let lid = lid3.x;
  let base = row * u.C;
  var q = 0.0;
  for (var c = lid; c < u.C; c += 64u) { q += x[base + c] * x[base + c]; }
  let r = inverseSqrt(reduce_sum(lid, q) / f32(u.C) + u.eps);
  for (var c = lid; c < u.C; c += 64u) { y[base + c] = x[base + c] * r * weight[c]; }
  if (lid == 0u) { rstd[row] = r; }
}
