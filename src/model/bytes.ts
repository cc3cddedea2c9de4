/**
 * Byte helpers shared by every layer that reads files or fingerprints data
 * (safetensors, tokenizer and model fingerprints, bundles, datasets, the
 * bundle store). Built on `Deno.FsFile` and Web Crypto only.
 *
 * @module
 */

/**
 * sha256 as lowercase hex.
 *
 * @param bytes input
 * @returns 64 hex characters
 *
 * @example Hash a string
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { sha256Hex } from "./bytes.ts";
 * assertEquals((await sha256Hex(new TextEncoder().encode("abc"))).slice(0, 8), "ba7816bf");
 * ```
 */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const h = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  let s = "";
  for (const b of h) s += b.toString(16).padStart(2, "0");
  return s;
}

/**
 * Concatenate byte arrays into one fresh array.
 *
 * @param parts the pieces, in order
 * @returns their concatenation
 */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.byteLength;
  }
  return out;
}

/**
 * Read `length` bytes of an open file from byte `start` (a `read` call may
 * return fewer bytes than asked, so this loops).
 *
 * @param file an open file
 * @param start absolute byte offset
 * @param length bytes wanted
 * @returns the bytes read: shorter than `length` only if the file ended first
 */
export async function readAt(
  file: Deno.FsFile,
  start: number,
  length: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const out = new Uint8Array(length);
  await file.seek(start, Deno.SeekMode.Start);
  let off = 0;
  while (off < length) {
    const n = await file.read(out.subarray(off));
    if (n === null) break;
    off += n;
  }
  return off === length ? out : out.subarray(0, off);
}
