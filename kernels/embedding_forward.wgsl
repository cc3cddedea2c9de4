// embedding_forward: x[r, :] = wte[ids[r], :] (+ wpe[posOffset + r % T, :]) for the token rows
// whose id falls in this vocabulary chunk [vStart, vStart + vCount). The token table is bound
// one chunk at a time so that a table larger than the storage binding limit (GPT-2 small's
// wte is 154 MB in f32, above the 128 MiB default) still works; every row is written by
// exactly one chunk's dispatch. Real tokens sit at positions P..P+T-1 (posOffset = P).
// GPT-2 adds learned positions (usePositions = 1); Llama has none here (RoPE acts inside
// attention), and then wpe is bound but not read.
// There is no backward: the embeddings are frozen and nothing upstream is trained.
//
// Bindings (group 0):
//   0 uniform    u: { rows, T, C, vStart, vCount, posOffset, usePositions }
//   1 read       ids: [rows] u32 (rows = B * T, row r = b * T + t)
//   2 read       wte: [vCount, C] f32 (the chunk's rows of the token table)
//   3 read       wpe: [maxPositions, C] f32
//   4 read_write x: [rows, C] f32
// Dispatch: (ceil(C / 64), rows, 1), workgroup 64.
// Assumptions: ids < vocab size (checked on the host); rows <= 65535.

struct Uniforms {
  rows: u32, T: u32, C: u32, vStart: u32,
  vCount: u32, posOffset: u32, usePositions: u32, _p1: u32,
}

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> wte: array<f32>;
@group(0) @binding(3) var<storage, read> wpe: array<f32>;
@group(0) @binding(4) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let r = gid.y;
  if (c >= u.C || r >= u.rows) { return; }
  let id = ids[r];
  if (id < u.vStart || id >= u.vStart + u.vCount) { return; }
  var e = wte[(id - u.vStart) * u.C + c];
  if (u.usePositions != 0u) { e += wpe[(u.posOffset + r % u.T) * u.C + c]; }
  x[r * u.C + c] = e;
}
