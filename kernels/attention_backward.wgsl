// attention_backward: gradients of attention_forward with respect to q, k and v, including
// the gradients that flow into the prefix keys/values, with grouped-query attention (query
// head h reads KV head hk = h / G; layouts as in attention_forward). Probabilities are recomputed from the
// saved lse: p_tj = exp(scale * q_t·k_j - lse_t). With dO the gradient of y and
// Dsum_t = dO_t·y_t:
//   dq_t = scale * sum_j p_tj (dO_t·v_j - Dsum_t) k_j
//   dk_j = scale * sum_t p_tj (dO_t·v_j - Dsum_t) q_t,   dv_j = sum_t p_tj dO_t
// Two entry points, run in this order:
//   query_grad: one thread per query row (b, h, t): writes Dsum and dq into dqkv[..., 0:Cq].
//   key_grad:   one thread per (hk, key); keys are P prefix keys then B*T token keys. A key
//               collects over the G query heads of its group. A prefix key collects over
//               every query of every row of the batch (the prefix is shared), and ADDS into
//               dkv so micro-batches accumulate; a token key (b, j) collects over queries
//               t >= j of its row and writes dqkv[..., Cq:Cq+2D] (zero for padded keys,
//               which nothing attends to).
//
// Bindings (group 0):
//   0 uniform    u: { B, T, H, hd, P, Cq, S, slotK, slotV, scale, G, D }
//   1 read       qkv: [B, T, Cq + 2D] f32 (layout as attention_forward)
//   2 read       kv: [P, S] f32 folded prefix (layout as attention_forward)
//   3 read       mask: [B, T] u32
//   4 read       y: [B, T, Cq] f32 forward output
//   5 read       lse: [B, H, T] f32
//   6 read       dy: [B, T, Cq] f32 gradient of y
//   7 read_write dqkv: [B, T, Cq + 2D] f32
//   8 read_write dkv: [P, S] f32 (accumulated into at this layer's slots)
//   9 read_write dsum: [B, H, T] f32 (scratch: Dsum, written by query_grad, read by key_grad)
// Dispatch: query_grad (ceil(B*H*T / 64)), key_grad (ceil(Hkv*(P + B*T) / 64)); workgroup 64.
// Assumptions: hd <= 128 (MAX_HD; checked on the host).

struct Uniforms {
  B: u32, T: u32, H: u32, hd: u32,
  P: u32, Cq: u32, S: u32, slotK: u32,
  slotV: u32, scale: f32, G: u32, D: u32,
}

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> kv: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<u32>;
@group(0) @binding(4) var<storage, read> y: array<f32>;
@group(0) @binding(5) var<storage, read> lse: array<f32>;
@group(0) @binding(6) var<storage, read> dy: array<f32>;
@group(0) @binding(7) var<storage, read_write> dqkv: array<f32>;
@group(0) @binding(8) var<storage, read_write> dkv: array<f32>;
@group(0) @binding(9) var<storage, read_write> dsum: array<f32>;

const MAX_HD = 128u;

@compute @workgroup_size(64, 1, 1)
fn query_grad(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = gid.x;
  if (row >= u.B * u.H * u.T) { return; }
  let t = row % u.T;
  let h = (row / u.T) % u.H;
  let b = row / (u.T * u.H);
  let RS = u.Cq + 2u * u.D; // qkv row stride
  let hk = h / u.G;
  let qBase = (b * u.T + t) * RS + h * u.hd;
  let oBase = (b * u.T + t) * u.Cq + h * u.hd;

  var q: array<f32, MAX_HD>;
  var dO: array<f32, MAX_HD>;
  var dq: array<f32, MAX_HD>;
  var D = 0.0;
  for (var i = 0u; i < u.hd; i++) {
    q[i] = qkv[qBase + i] * u.scale;
    dO[i] = dy[oBase + i];
    dq[i] = 0.0;
    D += dO[i] * y[oBase + i];
  }
  let L = lse[(b * u.H + h) * u.T + t];
  dsum[(b * u.H + h) * u.T + t] = D;
  let nKeys = u.P + t + 1u;
  for (var j = 0u; j < nKeys; j++) {
    var s = 0.0;
    var dp = 0.0;
    if (j < u.P) {
      let kBase = j * u.S + u.slotK + hk * u.hd;
      let vBase = j * u.S + u.slotV + hk * u.hd;
      for (var i = 0u; i < u.hd; i++) {
        s += q[i] * kv[kBase + i];
        dp += dO[i] * kv[vBase + i];
      }
      let ds = exp(s - L) * (dp - D);
      for (var i = 0u; i < u.hd; i++) { dq[i] += ds * kv[kBase + i]; }
    } else {
      let tj = j - u.P;
      if (mask[b * u.T + tj] == 0u) { continue; }
      let kBase = (b * u.T + tj) * RS + u.Cq + hk * u.hd;
      let vBase = kBase + u.D;
      for (var i = 0u; i < u.hd; i++) {
        s += q[i] * qkv[kBase + i];
        dp += dO[i] * qkv[vBase + i];
      }
      let ds = exp(s - L) * (dp - D);
      for (var i = 0u; i < u.hd; i++) { dq[i] += ds * qkv[kBase + i]; }
    }
  }
  for (var i = 0u; i < u.hd; i++) { dqkv[qBase + i] = dq[i] * u.scale; }
}

@compute @workgroup_size(64, 1, 1)
fn key_grad(@builtin(global_invocation_id) gid: vec3<u32>) {
  let nKeys = u.P + u.B * u.T;
  let idx = gid.x;
  let Hkv = u.H / u.G;
  if (idx >= Hkv * nKeys) { return; }
  let hk = idx / nKeys;
  let key = idx % nKeys;
  let RS = u.Cq + 2u * u.D; // qkv row stride

  var k: array<f32, MAX_HD>;
  var v: array<f32, MAX_HD>;
  var dk: array<f32, MAX_HD>;
  var dv: array<f32, MAX_HD>;
  let isPrefix = key < u.P;
  var b0 = 0u;
  var b1 = u.B;
  var tFirst = 0u;
  if (isPrefix) {
    let kBase = key * u.S + u.slotK + hk * u.hd;
    let vBase = key * u.S + u.slotV + hk * u.hd;
    for (var i = 0u; i < u.hd; i++) { k[i] = kv[kBase + i]; v[i] = kv[vBase + i]; }
  } else {
    let r = key - u.P; // token row b * T + j
    b0 = r / u.T;
    b1 = b0 + 1u;
    tFirst = r % u.T;
    let kBase = r * RS + u.Cq + hk * u.hd;
    for (var i = 0u; i < u.hd; i++) { k[i] = qkv[kBase + i]; v[i] = qkv[kBase + u.D + i]; }
    if (mask[r] == 0u) { b1 = b0; } // padded key: nobody attends to it
  }
  for (var i = 0u; i < u.hd; i++) { dk[i] = 0.0; dv[i] = 0.0; }

  for (var b = b0; b < b1; b++) {
    for (var h = hk * u.G; h < (hk + 1u) * u.G; h++) {
      for (var t = tFirst; t < u.T; t++) {
        let qBase = (b * u.T + t) * RS + h * u.hd;
        let oBase = (b * u.T + t) * u.Cq + h * u.hd;
        let st = (b * u.H + h) * u.T + t;
        var s = 0.0;
        var dp = 0.0;
        for (var i = 0u; i < u.hd; i++) {
          s += qkv[qBase + i] * k[i];
          dp += dy[oBase + i] * v[i];
        }
        let p = exp(s * u.scale - lse[st]);
        let ds = p * (dp - dsum[st]) * u.scale;
        for (var i = 0u; i < u.hd; i++) {
          dk[i] += ds * qkv[qBase + i];
          dv[i] += p * dy[oBase + i];
        }
      }
    }
  }

  if (isPrefix) {
    let kBase = key * u.S + u.slotK + hk * u.hd;
    let vBase = key * u.S + u.slotV + hk * u.hd;
    for (var i = 0u; i < u.hd; i++) {
      dkv[kBase + i] += dk[i];
      dkv[vBase + i] += dv[i];
    }
  } else {
    let kBase = (key - u.P) * RS + u.Cq + hk * u.hd;
    for (var i = 0u; i < u.hd; i++) {
      dqkv[kBase + i] = dk[i];
      dqkv[kBase + u.D + i] = dv[i];
    }
  }
}
