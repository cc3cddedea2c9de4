// gelu_forward: y = gelu_new(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), elementwise.
//
// Bindings (group 0):
//   0 uniform    u: { n }
//   1 read       x: [n] f32
//   2 read_write y: [n] f32
// Dispatch: (ceil(n / 256), 1, 1) when n <= 256 * 65535, else 2-D: x counts blocks of 256,
// y = ceil(blocks / 65535); workgroup 256. Element index = (wg.y * 65535 + wg.x) * 256 + lid.
// Assumptions: tanh's argument is clamped to [-15, 15] (tanh is +-1 there in f32) because
// some backends compute tanh through exp and overflow to NaN for large arguments.

struct Uniforms { n: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

const K0 = 0.7978845608028654; // sqrt(2 / pi)

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wg.y * 65535u + wg.x) * 256u + lid.x;
  if (i >= u.n) { return; }
  let v = x[i];
  let t = tanh(clamp(K0 * (v + 0.044715 * v * v * v), -15.0, 15.0));
  y[i] = 0.5 * v * (1.0 + t);
}
