// swiglu_forward: Llama's gated MLP activation, y = silu(gate) * up, silu(a) = a * sigmoid(a).
// gate and up are the two halves of one row of gu = x · [W_gate; W_up]ᵀ.
//
// Bindings (group 0):
//   0 uniform    u: { rows, F }
//   1 read       gu: [rows, 2F] f32 (gate at columns 0..F-1, up at F..2F-1)
//   2 read_write y: [rows, F] f32
// Dispatch: (ceil(F / 64), rows, 1), workgroup 64.
// Assumptions: rows <= 65535.

struct Uniforms { rows: u32, F: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> gu: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  let r = gid.y;
  if (i >= u.F || r >= u.rows) { return; }
  let g = gu[r * 2u * u.F + i];
  let up = gu[r * 2u * u.F + u.F + i];
  y[r * u.F + i] = g / (1.0 + exp(-g)) * up;
}
