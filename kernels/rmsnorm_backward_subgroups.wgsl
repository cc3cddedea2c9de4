// rmsnorm_backward_subgroups: GENERATED from kernels/rmsnorm_backward.wgsl by
// src/gpu/kernel_gen/subgroup_kernels.ts (edit those, then run `deno task kernels`): the
// same kernel, bindings and dispatch, with reduce_sum on subgroup operations, and the entry
// points that call it given @builtin(subgroup_invocation_id). For devices with the `subgroups`
// feature: src/gpu/gpu_context.ts loads it instead of rmsnorm_backward.wgsl on the hardware
// kernel set with PREFIX_EDGE_SUBGROUPS=1.
// No `enable subgroups;` directive: Deno's WGSL compiler (naga) rejects it ("not yet
// supported") and accepts the subgroup builtins without it; on a device without the feature
// the module fails validation ("Shader requires capability Capabilities(SUBGROUP)"). Tint, in
// browsers, requires the directive: add it there.
//
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

// Subgroup reduction (generated). sg_lane: this invocation's subgroup_invocation_id,
// set by the entry point. Each subgroup's lowest active lane writes the subgroup's sum (no
// subgroupElect in Deno's naga), every other invocation writes 0; then every invocation adds
// red[0..64) in index order, so all of them return the same total for any subgroup size
// and any lane layout. Callers are in uniform control flow, as subgroup operations and
// barriers require.
var<private> sg_lane: u32;

fn reduce_sum(lid: u32, v: f32) -> f32 {
  let part = subgroupAdd(v);
  let writer = subgroupMin(sg_lane);
  red[lid] = select(0.0, part, sg_lane == writer);
  workgroupBarrier();
  var total = 0.0;
  for (var i = 0u; i < 64u; i++) { total += red[i]; }
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(64, 1, 1)
fn main(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(local_invocation_id) lid3: vec3<u32>,
  @builtin(subgroup_invocation_id) sg_lane_in: u32,
) {
  sg_lane = sg_lane_in;
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
