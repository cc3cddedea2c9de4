// adamw_update_subgroups: GENERATED from kernels/adamw_update.wgsl by
// src/gpu/kernel_gen/subgroup_kernels.ts (edit those, then run `deno task kernels`): the
// same kernel, bindings and dispatch, with reduce_sum on subgroup operations, and the entry
// points that call it given @builtin(subgroup_invocation_id). For devices with the `subgroups`
// feature: src/gpu/gpu_context.ts loads it instead of adamw_update.wgsl on the hardware
// kernel set with PREFIX_EDGE_SUBGROUPS=1.
// No `enable subgroups;` directive: Deno's WGSL compiler (naga) rejects it ("not yet
// supported") and accepts the subgroup builtins without it; on a device without the feature
// the module fails validation ("Shader requires capability Capabilities(SUBGROUP)"). Tint, in
// browsers, requires the directive: add it there.
//
// adamw_update: global L2 gradient-norm clipping and one AdamW step over the flat parameter
// buffer, with torch.optim.AdamW semantics (decoupled weight decay, bias correction) and
// torch.nn.utils.clip_grad_norm_'s coefficient min(1, maxNorm / (norm + 1e-6)).
// Entry points, run in order:
//   sumsq:   each workgroup sums grads² over a grid-stride slice into partial[wg]
//   norm:    one workgroup sums the partials; norm[0] = sqrt(total)
//   update:  if norm is not finite, nothing changes (the host reports the step as skipped);
//            else g = grad * clip; p *= 1 - lr*wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g²;
//            p -= stepSize * m / (sqrt(v) / bc2Sqrt + eps), stepSize = lr / (1 - b1^t).
//
// Bindings (group 0):
//   0 uniform    u: { n, nPartials, lr, beta1, beta2, eps, weightDecay, maxNorm, stepSize, bc2Sqrt }
//                maxNorm <= 0 turns clipping off
//   1 read       grads: [n] f32
//   2 read_write params: [n] f32
//   3 read_write m: [n] f32
//   4 read_write v: [n] f32
//   5 read_write partial: [nPartials] f32
//   6 read_write norm: [1] f32
// Dispatch: sumsq (nPartials), norm (1), update (min(ceil(n / 256), 4096)); workgroup 256;
// sumsq and update loop over the buffer with a grid stride.

struct Uniforms {
  n: u32, nPartials: u32, lr: f32, beta1: f32,
  beta2: f32, eps: f32, weightDecay: f32, maxNorm: f32,
  stepSize: f32, bc2Sqrt: f32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> grads: array<f32>;
@group(0) @binding(2) var<storage, read_write> params: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read_write> partial: array<f32>;
@group(0) @binding(6) var<storage, read_write> norm: array<f32>;

var<workgroup> red: array<f32, 256>;

// Subgroup reduction (generated). sg_lane: this invocation's subgroup_invocation_id,
// set by the entry point. Each subgroup's lowest active lane writes the subgroup's sum (no
// subgroupElect in Deno's naga), every other invocation writes 0; then every invocation adds
// red[0..256) in index order, so all of them return the same total for any subgroup size
// and any lane layout. Callers are in uniform control flow, as subgroup operations and
// barriers require.
var<private> sg_lane: u32;

fn reduce_sum(lid: u32, x: f32) -> f32 {
  let part = subgroupAdd(x);
  let writer = subgroupMin(sg_lane);
  red[lid] = select(0.0, part, sg_lane == writer);
  workgroupBarrier();
  var total = 0.0;
  for (var i = 0u; i < 256u; i++) { total += red[i]; }
  workgroupBarrier();
  return total;
}

// Inf and NaN have all exponent bits set; a bit test cannot be optimized away like x != x.
fn is_finite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

@compute @workgroup_size(256, 1, 1)
fn sumsq(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(local_invocation_id) lid3: vec3<u32>,
  @builtin(subgroup_invocation_id) sg_lane_in: u32,
) {
  sg_lane = sg_lane_in;
  let lid = lid3.x;
  var acc = 0.0;
  for (var i = wg.x * 256u + lid; i < u.n; i += u.nPartials * 256u) {
    let g = grads[i];
    acc += g * g;
  }
  let total = reduce_sum(lid, acc);
  if (lid == 0u) { partial[wg.x] = total; }
}

@compute @workgroup_size(256, 1, 1)
fn norm_main(
  @builtin(local_invocation_id) lid3: vec3<u32>,
  @builtin(subgroup_invocation_id) sg_lane_in: u32,
) {
  sg_lane = sg_lane_in;
  let lid = lid3.x;
  var acc = 0.0;
  for (var i = lid; i < u.nPartials; i += 256u) { acc += partial[i]; }
  let total = reduce_sum(lid, acc);
  if (lid == 0u) { norm[0] = sqrt(total); }
}

@compute @workgroup_size(256, 1, 1)
fn update(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let nrm = norm[0];
  if (!is_finite(nrm)) { return; }
  var clip = 1.0;
  if (u.maxNorm > 0.0) { clip = min(1.0, u.maxNorm / (nrm + 1e-6)); }
  let stride = nwg.x * 256u;
  for (var i = gid.x; i < u.n; i += stride) {
    let g = grads[i] * clip;
    var p = params[i] * (1.0 - u.lr * u.weightDecay);
    let mi = u.beta1 * m[i] + (1.0 - u.beta1) * g;
    let vi = u.beta2 * v[i] + (1.0 - u.beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    p -= u.stepSize * mi / (sqrt(vi) / u.bc2Sqrt + u.eps);
    params[i] = p;
  }
}
