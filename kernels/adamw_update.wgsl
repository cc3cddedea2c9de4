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

fn reduce_sum(lid: u32, x: f32) -> f32 {
  red[lid] = x;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  return red[0];
}

// Inf and NaN have all exponent bits set; a bit test cannot be optimized away like x != x.
fn is_finite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

@compute @workgroup_size(256, 1, 1)
fn sumsq(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
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
fn norm_main(@builtin(local_invocation_id) lid3: vec3<u32>) {
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
