// prefix_forward: the elementwise parts of the prefix module's forward pass (DESIGN.md §1):
//   none:     R = E
//   mlp:      R = tanh(E W1 + b1) W2 + b2
//   residual: R = E + tanh(E W1 + b1) W2 + b2
//   kv[p, :] = g[p] * R[p, :],  g = sigmoid(a) with the gate, else 1.
// The two products run on the tiled matmul_xw kernel (host side, src/gpu/prefix_kernels.ts):
//   hidden = E W1 + b1  ->  tanh_main: hidden = tanh(hidden)
//   R = hidden W2 + b2  ->  output_main: R += E (residual) or R = E (none); kv = g * R
//
// Bindings (group 0):
//   0 uniform    u: { P, S, m, K, reparam, gate, oE, oW1, ob1, oW2, ob2, oa }
//                reparam: 0 none, 1 mlp, 2 residual; gate: 0/1; K = width of E (d or S);
//                o*: offsets (in f32 elements) of each parameter inside the flat buffer
//   1 read       params: flat f32: E [P,K], W1 [K,m], b1 [m], W2 [m,S], b2 [S], a [P]
//   2 read_write hidden: [P, m] f32
//   3 read_write r: [P, S] f32: R before the gate (kept for the gate's gradient)
//   4 read_write kv: [P, S] f32: the folded prefix
// Dispatch: tanh_main min(ceil(P*m / 64), 65535), output_main min(ceil(P*S / 256), 65535);
// one thread per value in a grid-stride loop.

struct Uniforms {
  P: u32, S: u32, m: u32, K: u32,
  reparam: u32, gate: u32, oE: u32, oW1: u32,
  ob1: u32, oW2: u32, ob2: u32, oa: u32,
}

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read_write> hidden: array<f32>;
@group(0) @binding(3) var<storage, read_write> r: array<f32>;
@group(0) @binding(4) var<storage, read_write> kv: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn tanh_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var idx = gid.x; idx < u.P * u.m; idx += nwg.x * 64u) {
    // Clamped: some backends compute tanh through exp and overflow to NaN.
    hidden[idx] = tanh(clamp(hidden[idx], -15.0, 15.0));
  }
}

@compute @workgroup_size(256, 1, 1)
fn output_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var idx = gid.x; idx < u.P * u.S; idx += nwg.x * 256u) {
    let p = idx / u.S;
    var v = 0.0;
    if (u.reparam == 0u) {
      v = params[u.oE + idx];
    } else {
      v = r[idx];
      if (u.reparam == 2u) { v += params[u.oE + idx]; }
    }
    r[idx] = v;
    var g = 1.0;
    if (u.gate != 0u) { g = 1.0 / (1.0 + exp(-params[u.oa + p])); }
    kv[idx] = g * v;
  }
}
