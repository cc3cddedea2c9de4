// rmsnorm_forward_subgroups: GENERATED from kernels/rmsnorm_forward.wgsl by
// src/gpu/kernel_gen/subgroup_kernels.ts (edit those, then run `deno task kernels`): the
// same kernel, bindings and dispatch, with reduce_sum on subgroup operations, and the entry
// points that call it given @builtin(subgroup_invocation_id). For devices with the `subgroups`
// feature: src/gpu/gpu_context.ts loads it instead of rmsnorm_forward.wgsl on the hardware
// kernel set with PREFIX_EDGE_SUBGROUPS=1.
// No `enable subgroups;` directive: Deno's WGSL compiler (naga) rejects it ("not yet
// supported") and accepts the subgroup builtins without it; on a device without the feature
// the module fails validation ("Shader requires capability Capabilities(SUBGROUP)"). Tint, in
// browsers, requires the directive: add it there.
//
// rmsnorm_forward: y = x * rstd * weight over the last axis, rstd = 1 / sqrt(mean(x^2) + eps)
// (Llama's RMSNorm: no mean subtraction, no bias), and rstd saved per row for the backward.
// A row may hold `groups` vectors of C side by side at column `offset`, with rows `stride`
// apart: Qwen3's per-head q/k norm normalizes each head of a qkv row (C = head size). The
// plain case is groups 1, stride C, offset 0. Vector (row, g) starts at
// row * stride + offset + g * C, and its rstd sits at row * groups + g.
//
// Bindings (group 0):
//   0 uniform    u: { rows, C, eps, groups, stride, offset }
//   1 read       x: [rows, stride] f32
//   2 read       weight: [C] f32
//   3 read_write y: [rows, stride] f32 (only the normalized vectors are written)
//   4 read_write rstd: [rows * groups] f32
// Dispatch: (groups, rows, 1), workgroup 64: one workgroup per vector, strided over C, tree
// reduce.
// Assumptions: rows, groups <= 65535 (one dispatch axis each), any C >= 1.

struct Uniforms { rows: u32, C: u32, eps: f32, groups: u32, stride: u32, offset: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> rstd: array<f32>;

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
  var q = 0.0;
  for (var c = lid; c < u.C; c += 64u) { q += x[base + c] * x[base + c]; }
  let r = inverseSqrt(reduce_sum(lid, q) / f32(u.C) + u.eps);
  for (var c = lid; c < u.C; c += 64u) { y[base + c] = x[base + c] * r * weight[c]; }
  if (lid == 0u) { rstd[row * u.groups + wg.x] = r; }
}
