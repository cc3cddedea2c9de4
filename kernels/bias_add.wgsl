// bias_add: y[r, c] += bias[c] for the first N columns of each row (Qwen2's q/k/v biases,
// added after the bias-free projection matmul). Its backward into the input is the identity
// (dx = dy), and the bias is frozen, so it has no backward kernel.
//
// Bindings (group 0):
//   0 uniform    u: { rows, N }
//   1 read       bias: [N] f32
//   2 read_write y: [rows, N] f32
// Dispatch: (ceil(N / 64), rows, 1), workgroup 64.
// Assumptions: rows <= 65535.

struct Uniforms { rows: u32, N: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let r = gid.y;
  if (c >= u.N || r >= u.rows) { return; }
  y[r * u.N + c] += bias[c];
}
