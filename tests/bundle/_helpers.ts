/**
 * Shared helpers for the bundle tests: the gpt2-tiny oracle prefix, and zip
 * surgery (rewrite one entry with a valid CRC, patch declared sizes) used to
 * build refused bundles.
 */
import { type LoadedModel, loadModel, type Prefix, SafetensorsFile } from "../../src/model/mod.ts";
import { inflateEntry, readZipDirectory, writeZip } from "../../src/bundle/_zip.ts";
import { GPT2_TINY } from "../_fixtures.ts";

/** The oracle case used by most bundle tests (gated residual, P = 4). */
export const ORACLE_CASE = "prefix-residual-gate.safetensors";

let cached: Promise<LoadedModel> | undefined;

/** gpt2-tiny's model folder, loaded once per test process. */
export function gpt2Tiny(): Promise<LoadedModel> {
  return cached ??= loadModel(`${GPT2_TINY}/model`);
}

/** The oracle's folded `kv` `[P, S]` from one case file. */
export async function oraclePrefix(file = ORACLE_CASE, dir = GPT2_TINY): Promise<Prefix> {
  const st = await SafetensorsFile.open(`${dir}/${file}`);
  try {
    const kv = await st.getFloat32("kv");
    return { prefixLen: st.info("kv").shape[0], kv: Float32Array.from(kv) };
  } finally {
    st.close();
  }
}

/** Unpack every entry of a (trusted, test-made) zip. */
export function unzip(bytes: Uint8Array): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  for (const e of readZipDirectory(bytes, "test").values()) {
    out[e.name] = inflateEntry(bytes, e, 1 << 30, "test");
  }
  return out;
}

/** Rewrite a bundle with `edit` applied to its entries (CRCs recomputed). */
export function rezip(
  bytes: Uint8Array,
  edit: (files: Record<string, Uint8Array>) => void,
): Uint8Array {
  const files = unzip(bytes);
  edit(files);
  return writeZip(files, new Date(Date.UTC(2026, 0, 1)));
}

/** Rewrite a bundle's manifest.json through `edit` (checksums left as they were). */
export function editManifest(
  bytes: Uint8Array,
  edit: (m: Record<string, unknown>) => void,
): Uint8Array {
  return rezip(bytes, (f) => {
    const m = JSON.parse(new TextDecoder().decode(f["manifest.json"]));
    edit(m);
    f["manifest.json"] = new TextEncoder().encode(JSON.stringify(m));
  });
}

/** sha256 hex of bytes. */
export async function sha256(bytes: Uint8Array): Promise<string> {
  const h = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return [...h].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Overwrite the declared uncompressed size of entry `name` in both the
 * central directory and the local header (a lying zip).
 */
export function patchDeclaredSize(bytes: Uint8Array, name: string, size: number): Uint8Array {
  const out = bytes.slice();
  const dv = new DataView(out.buffer);
  const nameBytes = new TextEncoder().encode(name);
  for (let p = 0; p + 46 < out.length; p++) {
    const sig = dv.getUint32(p, true);
    const isCd = sig === 0x02014b50, isLocal = sig === 0x04034b50;
    if (!isCd && !isLocal) continue;
    const nameAt = isCd ? p + 46 : p + 30;
    const nameLen = dv.getUint16(isCd ? p + 28 : p + 26, true);
    if (nameLen !== nameBytes.length) continue;
    if (!nameBytes.every((b, i) => out[nameAt + i] === b)) continue;
    dv.setUint32(isCd ? p + 24 : p + 22, size, true);
  }
  return out;
}
