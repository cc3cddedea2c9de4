// gelu_backward: dxy = dxy * gelu_new'(x), elementwise and in place on the gradient buffer.
//   gelu_new'(x) = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2),
//   t = tanh(sqrt(2/pi) (x + 0.044715 x^3)).
//
// Bindings (group 0):
//   0 uniform    u: { n }
//   1 read       x: [n] f32 (the forward input, pre-activation)
//   2 read_write dxy: [n] f32 (in: dL/dy, out: dL/dx)
// Dispatch: as gelu_forward (blocks of 256, 2-D past 65535 blocks); workgroup 256.
// Assumptions: tanh's argument is clamped to [-15, 15] (see gelu_forward).

struct Uniforms { n: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> dxy: array<f32>;

const K0 = 0.7978845608028654; // sqrt(2 / pi)

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wg.y * 65535u + wg.x) * 256u + lid.x;
  if (i >= u.n) { return; }
  let v = x[i];
  let t = tanh(clamp(K0 * (v + 0.044715 * v * v * v), -15.0, 15.0));
  let d = 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * K0 * (1.0 + 3.0 * 0.044715 * v * v);
  dxy[i] = dxy[i] * d;
}
