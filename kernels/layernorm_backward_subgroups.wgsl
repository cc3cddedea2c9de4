// layernorm_backward_subgroups: GENERATED from kernels/layernorm_backward.wgsl by
// src/gpu/kernel_gen/subgroup_kernels.ts (edit those, then run `deno task kernels`): the
// same kernel, bindings and dispatch, with reduce_sum on subgroup operations, and the entry
// points that call it given @builtin(subgroup_invocation_id). For devices with the `subgroups`
// feature: src/gpu/gpu_context.ts loads it instead of layernorm_backward.wgsl on the hardware
// kernel set with PREFIX_EDGE_SUBGROUPS=1.
// No `enable subgroups;` directive: Deno's WGSL compiler (naga) rejects it ("not yet
// supported") and accepts the subgroup builtins without it; on a device without the feature
// the module fails validation ("Shader requires capability Capabilities(SUBGROUP)"). Tint, in
// browsers, requires the directive: add it there.
//
// layernorm_backward: the input gradient of layernorm_forward, ADDED into dx (the residual
// stream's gradient, so the residual branch's backward is fused here):
//   xhat = (x - mean) * rstd,  g = dy * weight,
//   dx += rstd * (g - mean(g) - xhat * mean(g * xhat)).
// The weight and bias are frozen: their gradients are not computed.
//
// Bindings (group 0):
//   0 uniform    u: { rows, C }
//   1 read       dy: [rows, C] f32
//   2 read       x: [rows, C] f32 (the forward input)
//   3 read       stats: [rows, 2] f32 (mean, rstd) from the forward pass
//   4 read       weight: [C] f32
//   5 read_write dx: [rows, C] f32 (accumulated into)
// Dispatch: (rows, 1, 1), workgroup 64: one workgroup per row.
// Assumptions: rows <= 65535, any C >= 1.

struct Uniforms { rows: u32, C: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> stats: array<f32>;
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
  let row = wg.x;
  let lid = lid3.x;
  let base = row * u.C;
  let mean = stats[row * 2u];
  let rstd = stats[row * 2u + 1u];
  var s1 = 0.0;
  var s2 = 0.0;
  for (var c = lid; c < u.C; c += 64u) {
    let g = dy[base + c] * weight[c];
    s1 += g;
    s2 += g * (x[base + c] - mean) * rstd;
  }
  let mg = reduce_sum(lid, s1) / f32(u.C);
  let mgx = reduce_sum(lid, s2) / f32(u.C);
  for (var c = lid; c < u.C; c += 64u) {
    let xhat = (x[base + c] - mean) * rstd;
    let g = dy[base + c] * weight[c];
    dx[base + c] += rstd * (g - mg - xhat * mgx);
  }
}
