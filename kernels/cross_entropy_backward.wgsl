// cross_entropy_backward: the gradient of the SUM of token losses with respect to one
// vocabulary chunk's logits, in place: dlogits = softmax(logits) - onehot(target) for rows
// with a target, 0 for ignored rows (target -1). Dividing by the token count happens once,
// at the optimizer step, so micro-batches accumulate sums.
//
// Bindings (group 0):
//   0 uniform    u: { rows, Vc, vStart }
//   1 read       targets: [rows] i32
//   2 read       stats: [rows, 3] f32 (final max, sum of exp, target logit) from the forward
//   3 read_write logits: [rows, Vc] f32 (in: logits; out: dlogits)
// Dispatch: (ceil(Vc / 256), rows, 1), workgroup 256.
// Assumptions: rows <= 65535.

struct Uniforms { rows: u32, Vc: u32, vStart: u32, _p0: u32 }

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> targets: array<i32>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read_write> logits: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let r = gid.y;
  if (c >= u.Vc || r >= u.rows) { return; }
  let i = r * u.Vc + c;
  let tgt = targets[r];
  if (tgt < 0) {
    logits[i] = 0.0;
    return;
  }
  let lse = stats[r * 3u] + log(stats[r * 3u + 1u]);
  var g = exp(logits[i] - lse);
  if (u32(tgt) == u.vStart + c) { g -= 1.0; }
  logits[i] = g;
}
