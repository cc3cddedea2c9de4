// swiglu_backward: gradients of swiglu_forward with respect to gate and up. With
// sg = sigmoid(gate) and dy the gradient of y:
//   d(gate) = dy * up * sg * (1 + gate * (1 - sg)),   d(up) = dy * gate * sg.
//
// Bindings (group 0):
//   0 uniform    u: { rows, F }
//   1 read       gu: [rows, 2F] f32 (the forward input: gate | up)
//   2 read       dy: [rows, F] f32
//   3 read_write dgu: [rows, 2F] f32 (d gate | d up)
// Dispatch: (ceil(F / 64), rows, 1), workgroup 64.
// Assumptions: rows <= 65535.

struct Uniforms { rows: u32, F: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> gu: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dgu: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  let r = gid.y;
  if (i >= u.F || r >= u.rows) { return; }
  let a = r * 2u * u.F + i;
  let g = gu[a];
  let up = gu[a + u.F];
  let sg = 1.0 / (1.0 + exp(-g));
  let d = dy[r * u.F + i];
  dgu[a] = d * up * sg * (1.0 + g * (1.0 - sg));
  dgu[a + u.F] = d * g * sg;
}
