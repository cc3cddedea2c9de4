// cross_entropy_forward: one vocabulary chunk's contribution to the softmax statistics of
// the tied LM head, merged online into running per-row statistics so that only one chunk of
// logits ([rows, Vc], never [rows, V]) exists at a time:
//   stats[r] = (running max m, running sum of exp(logit - m), the target's logit).
// The first chunk (vStart = 0) initializes; later chunks rescale: sum' = sum * exp(m - m') +
// chunkSum * exp(chunkMax - m'). The host reads the stats back and computes
// loss_r = m + log(sum) - targetLogit in float64 for rows with a target.
//
// Bindings (group 0):
//   0 uniform    u: { rows, Vc, vStart }
//   1 read       logits: [rows, Vc] f32 (this chunk's columns vStart..vStart+Vc)
//   2 read       targets: [rows] i32 (next-token id, -1 = ignored)
//   3 read_write stats: [rows, 3] f32
// Dispatch: (rows, 1, 1), workgroup 64: one workgroup per row, tree reductions.
// Assumptions: rows <= 65535.

struct Uniforms { rows: u32, Vc: u32, vStart: u32, _p0: u32 }

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<i32>;
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;

var<workgroup> red: array<f32, 64>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
  let r = wg.x;
  let lid = lid3.x;
  let base = r * u.Vc;
  var mx = -3.0e38;
  for (var c = lid; c < u.Vc; c += 64u) { mx = max(mx, logits[base + c]); }
  red[lid] = mx;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  let cmax = red[0];
  workgroupBarrier();
  var sum = 0.0;
  for (var c = lid; c < u.Vc; c += 64u) { sum += exp(logits[base + c] - cmax); }
  red[lid] = sum;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let csum = red[0];
    let tgt = targets[r];
    if (u.vStart == 0u) {
      stats[r * 3u] = cmax;
      stats[r * 3u + 1u] = csum;
      stats[r * 3u + 2u] = 0.0;
    } else {
      let m = stats[r * 3u];
      let nm = max(m, cmax);
      stats[r * 3u + 1u] = stats[r * 3u + 1u] * exp(m - nm) + csum * exp(cmax - nm);
      stats[r * 3u] = nm;
    }
    if (tgt >= 0 && u32(tgt) >= u.vStart && u32(tgt) < u.vStart + u.Vc) {
      stats[r * 3u + 2u] = logits[base + u32(tgt) - u.vStart];
    }
  }
}
