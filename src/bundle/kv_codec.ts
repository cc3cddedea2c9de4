/**
 * Encode and decode the folded prefix `kv` `[P, S]` (S = 2*L*H*hd, viewed as
 * `[P, 2L, H, hd]`) in the three stored dtypes:
 *
 * - `F32`: exact.
 * - `F16`: IEEE half, round to nearest even (`Float16Array`); relative error
 *   at most 2^-11 for normal values. Values beyond ±65504 are refused.
 * - `I8`: symmetric per-(slot, head) quantization. `kv.scale` `[2L, H]` F32
 *   holds `scale[j,h] = max_{p,d} |kv[p,j,h,d]| / 127`, and
 *   `kv[p,j,h,d] ≈ scale[j,h] * q[p,j,h,d]` with `q` in [-127, 127]. One
 *   scale per slot and head because keys and values of different layers and
 *   heads differ in range by orders of magnitude; the error is at most
 *   `scale/2` per value.
 *
 * @module
 */
import type { TensorToWrite } from "../model/mod.ts";
import type { BundleDtype } from "./manifest.ts";

/** The shape letters of a stored prefix. */
export interface KvShape {
  /** P */
  prefixLen: number;
  /** L */
  numLayers: number;
  /** H */
  numKvHeads: number;
  /** hd */
  headDim: number;
}

/** Largest finite half-precision value. */
export const F16_MAX = 65504;

/**
 * Encode `kv` `[P, S]` f32 as safetensors tensors.
 *
 * @param kv `[P, S]` row-major f32 (finite)
 * @param shape P, L, H, hd
 * @param dtype stored dtype
 * @returns `{ kv }` or `{ kv, "kv.scale" }` (I8)
 * @throws {RangeError} when a value does not fit F16 (the caller wraps it)
 */
export function encodeKv(
  kv: Float32Array,
  shape: KvShape,
  dtype: BundleDtype,
): Record<string, TensorToWrite> {
  const { prefixLen: P, numLayers: L, numKvHeads: H, headDim: hd } = shape;
  const S = 2 * L * H * hd;
  if (dtype === "F32") return { kv: { dtype: "F32", shape: [P, S], data: kv } };
  if (dtype === "F16") {
    for (let i = 0; i < kv.length; i++) {
      if (Math.abs(kv[i]) > F16_MAX) {
        throw new RangeError(`kv[${i}] = ${kv[i]} is beyond the F16 range (±${F16_MAX})`);
      }
    }
    return { kv: { dtype: "F16", shape: [P, S], data: Float16Array.from(kv) } };
  }
  // I8: scale per (slot j, head h) over all P tokens and hd lanes.
  const scale = new Float32Array(2 * L * H);
  for (let p = 0; p < P; p++) {
    for (let jh = 0; jh < 2 * L * H; jh++) {
      const base = p * S + jh * hd;
      let m = scale[jh];
      for (let d = 0; d < hd; d++) m = Math.max(m, Math.abs(kv[base + d]));
      scale[jh] = m;
    }
  }
  for (let jh = 0; jh < scale.length; jh++) scale[jh] = scale[jh] / 127;
  const q = new Int8Array(P * S);
  for (let p = 0; p < P; p++) {
    for (let jh = 0; jh < 2 * L * H; jh++) {
      const s = scale[jh];
      const base = p * S + jh * hd;
      for (let d = 0; d < hd; d++) {
        q[base + d] = s === 0 ? 0 : Math.max(-127, Math.min(127, Math.round(kv[base + d] / s)));
      }
    }
  }
  return {
    kv: { dtype: "I8", shape: [P, S], data: q },
    "kv.scale": { dtype: "F32", shape: [2 * L, H], data: scale },
  };
}

/**
 * Dequantize I8 values with per-(slot, head) scales.
 *
 * @param q `[P, S]` int8
 * @param scale `[2L, H]` f32
 * @param shape P, L, H, hd
 * @returns `[P, S]` f32
 */
export function dequantizeI8(q: Int8Array, scale: Float32Array, shape: KvShape): Float32Array {
  const { prefixLen: P, numLayers: L, numKvHeads: H, headDim: hd } = shape;
  const S = 2 * L * H * hd;
  const out = new Float32Array(P * S);
  for (let p = 0; p < P; p++) {
    for (let jh = 0; jh < 2 * L * H; jh++) {
      const s = scale[jh], base = p * S + jh * hd;
      for (let d = 0; d < hd; d++) out[base + d] = s * q[base + d];
    }
  }
  return out;
}

/** Bytes per stored value of each dtype (scales not included). */
export const DTYPE_BYTES: Record<BundleDtype, number> = { F32: 4, F16: 2, I8: 1 };
