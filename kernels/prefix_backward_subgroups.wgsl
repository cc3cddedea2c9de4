// prefix_backward_subgroups: GENERATED from kernels/prefix_backward.wgsl by
// src/gpu/kernel_gen/subgroup_kernels.ts (edit those, then run `deno task kernels`): the
// same kernel, bindings and dispatch, with reduce_sum on subgroup operations, and the entry
// points that call it given @builtin(subgroup_invocation_id). For devices with the `subgroups`
// feature: src/gpu/gpu_context.ts loads it instead of prefix_backward.wgsl on the hardware
// kernel set with PREFIX_EDGE_SUBGROUPS=1.
// No `enable subgroups;` directive: Deno's WGSL compiler (naga) rejects it ("not yet
// supported") and accepts the subgroup builtins without it; on a device without the feature
// the module fails validation ("Shader requires capability Capabilities(SUBGROUP)"). Tint, in
// browsers, requires the directive: add it there.
//
// prefix_backward: gradients of the prefix module's parameters from dkv, the gradient of the
// summed token losses with respect to the folded prefix [P, S], times `scale` (1 / tokens).
//   gate:     dR = g * dkv,  da[p] = g (1 - g) sum_s dkv[p,s] R[p,s]   (no gate: dR = dkv)
//   W2, b2:   dW2 = hiddenᵀ dR,  db2 = sum_p dR
//   hidden:   dZ = (dR W2ᵀ) * (1 - hidden²)
//   W1, b1:   dW1 = Eᵀ dZ,  db1 = sum_p dZ
//   E:        dE = dZ W1ᵀ (mlp, residual) + dR (none, residual)
// Entry points here, in order: gate_grad, then (mlp/residual) w2_grad, tanh_grad, w1_grad.
// dR W2ᵀ and dZ W1ᵀ run on the tiled matmul_xwt kernel, and dR is copied into dE before
// that product accumulates onto it (host side, src/gpu/prefix_kernels.ts). The weight
// gradients reduce over P only (a few dozen rows), so one thread per output is enough.
// Gradients are written (not added) into the flat gradient buffer.
//
// Bindings (group 0):
//   0 uniform    u: { P, S, m, K, reparam, gate, oE, oW1, ob1, oW2, ob2, oa, scale }
//   1 read       params: flat f32 (layout as prefix_forward)
//   2 read       hidden: [P, m] f32 from prefix_forward
//   3 read       r: [P, S] f32 from prefix_forward
//   4 read       dkv: [P, S] f32
//   5 read_write dr: [P, S] f32 scratch
//   6 read_write dz: [P, m] f32 (in tanh_grad: dR W2ᵀ; out: dZ)
//   7 read_write grads: flat f32, same layout as params
// Dispatch: gate_grad (P) workgroups of 64; w2_grad, tanh_grad, w1_grad one thread per output
// in a grid-stride loop over min(ceil(n / 64), 65535) workgroups (n = S, P*m, K*m + m).
// Assumptions: P <= 65535 (checked on the host).

struct Uniforms {
  P: u32, S: u32, m: u32, K: u32,
  reparam: u32, gate: u32, oE: u32, oW1: u32,
  ob1: u32, oW2: u32, ob2: u32, oa: u32,
  scale: f32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read> hidden: array<f32>;
@group(0) @binding(3) var<storage, read> r: array<f32>;
@group(0) @binding(4) var<storage, read> dkv: array<f32>;
@group(0) @binding(5) var<storage, read_write> dr: array<f32>;
@group(0) @binding(6) var<storage, read_write> dz: array<f32>;
@group(0) @binding(7) var<storage, read_write> grads: array<f32>;

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
fn gate_grad(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(local_invocation_id) lid3: vec3<u32>,
  @builtin(subgroup_invocation_id) sg_lane_in: u32,
) {
  sg_lane = sg_lane_in;
  let p = wg.x;
  let lid = lid3.x;
  var g = 1.0;
  if (u.gate != 0u) { g = 1.0 / (1.0 + exp(-params[u.oa + p])); }
  var acc = 0.0;
  for (var s = lid; s < u.S; s += 64u) {
    let i = p * u.S + s;
    let d = dkv[i] * u.scale;
    dr[i] = g * d;
    acc += d * r[i];
  }
  let total = reduce_sum(lid, acc);
  if (lid == 0u && u.gate != 0u) { grads[u.oa + p] = g * (1.0 - g) * total; }
}

@compute @workgroup_size(64, 1, 1)
fn w2_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var s = gid.x; s < u.S; s += nwg.x * 64u) {
    var db = 0.0;
    for (var p = 0u; p < u.P; p++) { db += dr[p * u.S + s]; }
    grads[u.ob2 + s] = db;
    for (var j = 0u; j < u.m; j++) {
      var acc = 0.0;
      for (var p = 0u; p < u.P; p++) { acc += hidden[p * u.m + j] * dr[p * u.S + s]; }
      grads[u.oW2 + j * u.S + s] = acc;
    }
  }
}

@compute @workgroup_size(64, 1, 1)
fn tanh_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var idx = gid.x; idx < u.P * u.m; idx += nwg.x * 64u) {
    let h = hidden[idx];
    dz[idx] = dz[idx] * (1.0 - h * h);
  }
}

@compute @workgroup_size(64, 1, 1)
fn w1_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var idx = gid.x; idx < u.K * u.m + u.m; idx += nwg.x * 64u) {
    if (idx < u.K * u.m) {
      let k = idx / u.m;
      let j = idx % u.m;
      var acc = 0.0;
      for (var p = 0u; p < u.P; p++) { acc += params[u.oE + p * u.K + k] * dz[p * u.m + j]; }
      grads[u.oW1 + idx] = acc;
    } else {
      let j = idx - u.K * u.m;
      var acc = 0.0;
      for (var p = 0u; p < u.P; p++) { acc += dz[p * u.m + j]; }
      grads[u.ob1 + j] = acc;
    }
  }
}
