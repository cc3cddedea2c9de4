/**
 * Decode and check `prefix.safetensors` against its manifest: tensor names,
 * dtype, shape, I8 scales, and no NaN/Inf.
 *
 * @module
 */
import { SafetensorsFile } from "../model/mod.ts";
import { BundleError } from "./bundle_error.ts";
import { dequantizeI8, type KvShape } from "./kv_codec.ts";
import type { BundleManifest } from "./manifest.ts";

/** P, L, H, hd of a manifest. */
export function shapeOf(m: BundleManifest): KvShape {
  return {
    prefixLen: m.prefixLen,
    numLayers: m.numLayers,
    numKvHeads: m.numKvHeads,
    headDim: m.headDim,
  };
}

/**
 * Decode `kv` to f32 `[P, S]`.
 *
 * @param stBytes the uncompressed prefix.safetensors (checksum already verified)
 * @param m the validated manifest
 * @param file bundle name for errors
 * @returns the decoded kv
 */
export async function decodeKvFile(
  stBytes: Uint8Array,
  m: BundleManifest,
  file: string,
): Promise<Float32Array> {
  let st: SafetensorsFile;
  try {
    st = await SafetensorsFile.fromBytes(stBytes, `${file}:prefix.safetensors`);
  } catch (e) {
    throw new BundleError(
      "BUNDLE_CORRUPT",
      file,
      `Cannot read ${file}: ${(e as Error).message}`,
      { cause: e },
    );
  }
  const shape = shapeOf(m);
  const S = 2 * shape.numLayers * shape.numKvHeads * shape.headDim;
  const kvInfo = st.tensors.get("kv");
  if (!kvInfo) {
    throw new BundleError(
      "BUNDLE_CORRUPT",
      file,
      `Cannot read ${file}: prefix.safetensors has no "kv" tensor`,
    );
  }
  if (kvInfo.dtype !== m.dtype) {
    throw new BundleError(
      "BUNDLE_CORRUPT",
      file,
      `Cannot read ${file}: kv is stored as ${kvInfo.dtype} but the manifest says ${m.dtype}`,
    );
  }
  if (kvInfo.shape.length !== 2 || kvInfo.shape[0] !== m.prefixLen || kvInfo.shape[1] !== S) {
    throw new BundleError(
      "PREFIX_MISMATCH",
      file,
      `Cannot read ${file}: kv has shape [${kvInfo.shape}] but the manifest says [P=${m.prefixLen}, S=2*${m.numLayers}*${m.numKvHeads}*${m.headDim}=${S}]`,
    );
  }
  const raw = await st.getBytes("kv");
  let kv: Float32Array;
  if (m.dtype === "I8") {
    const sInfo = st.tensors.get("kv.scale");
    const want = [2 * shape.numLayers, shape.numKvHeads];
    if (!sInfo || sInfo.dtype !== "F32" || sInfo.shape.join() !== want.join()) {
      throw new BundleError(
        "BUNDLE_CORRUPT",
        file,
        `Cannot read ${file}: an I8 bundle needs "kv.scale" F32 [${want}], found ${
          sInfo ? `${sInfo.dtype} [${sInfo.shape}]` : "none"
        }`,
      );
    }
    const scale = await st.getFloat32("kv.scale");
    for (let i = 0; i < scale.length; i++) {
      if (!Number.isFinite(scale[i]) || scale[i] < 0) {
        throw new BundleError(
          "BUNDLE_NONFINITE",
          file,
          `Cannot read ${file}: kv.scale[${i}] is ${scale[i]}, not a finite non-negative number`,
        );
      }
    }
    kv = dequantizeI8(new Int8Array(raw.buffer, raw.byteOffset, raw.byteLength), scale, shape);
  } else {
    // getBytes returns a fresh copy, so an aligned F32 view needs no second copy.
    kv = m.dtype === "F32"
      ? (raw.byteOffset % 4 === 0
        ? new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4)
        : new Float32Array(raw.slice().buffer))
      : Float32Array.from(new Float16Array(raw.slice().buffer));
  }
  for (let i = 0; i < kv.length; i++) {
    if (!Number.isFinite(kv[i])) {
      const p = Math.floor(i / S), j = Math.floor((i % S) / (S / (2 * m.numLayers)));
      throw new BundleError(
        "BUNDLE_NONFINITE",
        file,
        `Cannot read ${file}: kv[${p}, slot ${j}] holds ${kv[i]}`,
      );
    }
  }
  return kv;
}
