// rope_forward: rotary position embeddings in Hugging Face's rotate_half convention, in place
// on the q and k heads of a qkv buffer. For a head vector x of size hd, half = hd / 2, and
// the token's position pos:
//   y[i]        = x[i] * cos[pos, i] - x[i + half] * sin[pos, i]
//   y[i + half] = x[i + half] * cos[pos, i] + x[i] * sin[pos, i]        (i < half)
// With inverse = 1 it applies the transposed rotation (angle -theta), which is the backward
// pass: the rotation is orthogonal, so d(x) = R(pos)^T d(y).
// Real token t of a row sits at position P + t (the prefix occupies 0..P-1; prefix keys are
// cache keys and are never rotated). The cos/sin tables are computed once on the CPU (the
// RoPE base, and any frequency rescaling, live there).
//
// Bindings (group 0):
//   0 uniform    u: { rows, T, P, heads, hd, stride, inverse }
//   1 read       cosT: [maxPositions, hd / 2] f32
//   2 read       sinT: [maxPositions, hd / 2] f32
//   3 read_write x: [rows, stride] f32; heads 0..heads-1 at columns h*hd.. are rotated
//                (the q heads then the k heads, which follow them in the qkv layout)
// Dispatch: (ceil(heads * hd / 2 / 64), rows, 1), workgroup 64: one invocation per pair.
// Assumptions: hd even; rows <= 65535; P + T <= maxPositions (checked on the host).

struct Uniforms { rows: u32, T: u32, P: u32, heads: u32, hd: u32, stride: u32, inverse: u32, _p0: u32 }

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> cosT: array<f32>;
@group(0) @binding(2) var<storage, read> sinT: array<f32>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let half = u.hd / 2u;
  let pair = gid.x;
  let r = gid.y;
  if (pair >= u.heads * half || r >= u.rows) { return; }
  let h = pair / half;
  let i = pair % half;
  let pos = u.P + r % u.T;
  let c = cosT[pos * half + i];
  var s = sinT[pos * half + i];
  if (u.inverse != 0u) { s = -s; }
  let a = r * u.stride + h * u.hd + i;
  let x1 = x[a];
  let x2 = x[a + half];
  x[a] = x1 * c - x2 * s;
  x[a + half] = x2 * c + x1 * s;
}
