// rmsnorm_backward: the input gradient of rmsnorm_forward, ADDED into dx when accumulating
// (the residual stream's gradient, so the residual branch's backward is fused here), else
// written over it:
//   xhat = x * rstd,  g = dy * weight,  dx (+)= rstd * (g - xhat * mean(g * xhat)).
// The weight is frozen: its gradient is not computed. Vectors are laid out as in
// rmsnorm_forward (groups per row at column offset, rows stride apart); dy, x and dx share
// that layout, and columns outside the vectors are left alone.
//
// Bindings (group 0):
//   0 uniform    u: { rows, C, groups, stride, offset, accumulate }
//   1 read       dy: [rows, stride] f32
//   2 read       x: [rows, stride] f32 (the forward input)
//   3 read       rstd: [rows * groups] f32 from the forward pass
//   4 read       weight: [C] f32
//   5 read_write dx: [rows, stride] f32
// Dispatch: (groups, rows, 1), workgroup 64: one workgroup per vector.
// Assumptions: rows, groups <= 65535, any C >= 1.

struct Uniforms { rows: u32, C: u32, groups: u32, stride: u32, offset: u32, accumulate: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> rstd: array<f32>;
@group(0) @binding(4) var<storage, read> weight: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;

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
  let row = wg.y;
  let lid = lid3.x;
  let base = row * u.stride + u.offset + wg.x * u.C;
  let r = rstd[row * u.groups + wg.x];
  var s = 0.0;
  for (var c = lid; c < u.C; c += 64u) { s += dy[base + c] * weight[c] * x[base + c] * r; }
  let mgx = reduce_sum(lid, s) / f32(u.C);
  for (var c = lid; c < u.C; c += 64u) {
    let d = r * (dy[base + c] * weight[c] - x[base + c] * r * mgx);
    if (u.accumulate != 0u) { dx[base + c] += d; } else { dx[base + c] = d; }
  }
}
