/**
 * A zip reader that never trusts the archive, and a writer (fflate).
 *
 * Reading works in two passes so that a zip bomb is refused before it
 * inflates: first the central directory is parsed and every entry's declared
 * sizes are checked against the caller's bounds; then an entry is inflated
 * with fflate's streaming `Inflate`, fed 16 KiB of compressed input at a time,
 * counting the output and stopping as soon as it passes the bound (declared
 * sizes can lie). DEFLATE expands at most ~1032:1, so one 16 KiB push yields
 * at most ~16.5 MiB before the count is checked again.
 *
 * Only what a bundle needs is supported: methods 0 (stored) and 8 (deflate),
 * no encryption, no ZIP64, no multi-disk archives.
 *
 * @module
 */
import { concatBytes } from "../model/mod.ts";
import { Inflate, zipSync } from "fflate";
import { BundleError } from "./bundle_error.ts";

/** One central-directory entry. Sizes are as declared by the archive. */
export interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  crc32: number;
  compressedSize: number;
  size: number;
  /** Offset of the entry's compressed data in the archive. */
  dataStart: number;
}

const EOCD_SIG = 0x06054b50;
const CDH_SIG = 0x02014b50;
const LFH_SIG = 0x04034b50;
/** Compressed bytes pushed into the inflater at once (bounds one push's output to ~16 MiB). */
const PUSH_BYTES = 16 * 1024;

/**
 * Parse the central directory and locate each entry's data.
 *
 * @param bytes the whole archive
 * @param file name for errors
 * @returns entries by name
 * @throws {BundleError} `BUNDLE_CORRUPT` for anything malformed
 */
export function readZipDirectory(bytes: Uint8Array, file: string): Map<string, ZipEntry> {
  const corrupt = (why: string): never => {
    throw new BundleError("BUNDLE_CORRUPT", file, `Cannot read ${file}: ${why}`);
  };
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.byteLength;
  if (n < 22) corrupt(`it is ${n} bytes, too short to be a zip archive`);
  // The end-of-central-directory record sits in the last 22 + (comment <= 65535) bytes.
  let eocd = -1;
  for (let i = n - 22; i >= Math.max(0, n - 22 - 65535); i--) {
    if (dv.getUint32(i, true) === EOCD_SIG && i + 22 + dv.getUint16(i + 20, true) === n) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) corrupt("no zip end-of-central-directory record (truncated or not a zip)");
  const disk = dv.getUint16(eocd + 4, true), cdDisk = dv.getUint16(eocd + 6, true);
  const count = dv.getUint16(eocd + 10, true);
  const cdSize = dv.getUint32(eocd + 12, true), cdOffset = dv.getUint32(eocd + 16, true);
  if (disk !== 0 || cdDisk !== 0 || count !== dv.getUint16(eocd + 8, true)) {
    corrupt("multi-disk zip archives are not supported");
  }
  if (count === 0xffff || cdOffset === 0xffffffff || cdSize === 0xffffffff) {
    corrupt("ZIP64 archives are not supported");
  }
  if (cdOffset + cdSize > eocd) corrupt("the central directory runs past its end record");
  const entries = new Map<string, ZipEntry>();
  let p = cdOffset;
  for (let k = 0; k < count; k++) {
    if (p + 46 > eocd || dv.getUint32(p, true) !== CDH_SIG) {
      corrupt(`central directory entry ${k} is malformed`);
    }
    const flags = dv.getUint16(p + 8, true);
    const method = dv.getUint16(p + 10, true);
    const crc32 = dv.getUint32(p + 16, true);
    const compressedSize = dv.getUint32(p + 20, true);
    const size = dv.getUint32(p + 24, true);
    const nameLen = dv.getUint16(p + 28, true);
    const extraLen = dv.getUint16(p + 30, true);
    const commentLen = dv.getUint16(p + 32, true);
    const localOffset = dv.getUint32(p + 42, true);
    if (p + 46 + nameLen + extraLen + commentLen > eocd) {
      corrupt(`central directory entry ${k} runs past the directory`);
    }
    const nameBytes = bytes.subarray(p + 46, p + 46 + nameLen);
    let name: string;
    try {
      name = new TextDecoder("utf-8", { fatal: true }).decode(nameBytes);
    } catch {
      return corrupt(`central directory entry ${k} has a name that is not UTF-8`);
    }
    p += 46 + nameLen + extraLen + commentLen;
    if (flags & 1) corrupt(`entry "${name}" is encrypted`);
    if (entries.has(name)) corrupt(`entry "${name}" appears twice`);
    if (localOffset + 30 > n || dv.getUint32(localOffset, true) !== LFH_SIG) {
      corrupt(`entry "${name}" has no local header at offset ${localOffset}`);
    }
    const lNameLen = dv.getUint16(localOffset + 26, true);
    const lExtraLen = dv.getUint16(localOffset + 28, true);
    const dataStart = localOffset + 30 + lNameLen + lExtraLen;
    if (
      lNameLen !== nameLen ||
      !bytes.subarray(localOffset + 30, localOffset + 30 + lNameLen).every((b, i) =>
        b === nameBytes[i]
      )
    ) {
      corrupt(`entry "${name}": local header and central directory disagree on the name`);
    }
    if (dataStart + compressedSize > cdOffset) {
      corrupt(`entry "${name}" declares ${compressedSize} compressed bytes, past the data area`);
    }
    entries.set(name, { name, method, flags, crc32, compressedSize, size, dataStart });
  }
  return entries;
}

/**
 * Inflate one entry, refusing it once its output passes `maxBytes`.
 *
 * @param bytes the whole archive
 * @param entry the entry (from {@link readZipDirectory})
 * @param maxBytes bound on the inflated size
 * @param file name for errors
 * @param checkCrc verify the CRC-32 (skip it only when a stronger checksum follows)
 * @returns the entry's bytes
 * @throws {BundleError} `BUNDLE_TOO_LARGE` (declared or actual size over the
 *   bound), `BUNDLE_CORRUPT` (bad method, bad deflate stream, size differs
 *   from the declared one), `BUNDLE_CHECKSUM` (CRC-32 differs)
 */
export function inflateEntry(
  bytes: Uint8Array,
  entry: ZipEntry,
  maxBytes: number,
  file: string,
  checkCrc = true,
): Uint8Array {
  const what = `entry "${entry.name}" of ${file}`;
  if (entry.size > maxBytes) {
    throw new BundleError(
      "BUNDLE_TOO_LARGE",
      file,
      `Cannot read ${what}: it declares ${entry.size} bytes, over the ${maxBytes}-byte bound`,
    );
  }
  const raw = bytes.subarray(entry.dataStart, entry.dataStart + entry.compressedSize);
  let out: Uint8Array;
  if (entry.method === 0) {
    if (entry.compressedSize !== entry.size) {
      throw new BundleError(
        "BUNDLE_CORRUPT",
        file,
        `Cannot read ${what}: stored entry declares ${entry.size} bytes but holds ${entry.compressedSize}`,
      );
    }
    out = raw.slice();
  } else if (entry.method === 8) {
    out = inflateBounded(raw, maxBytes, what, file);
    if (out.byteLength !== entry.size) {
      throw new BundleError(
        "BUNDLE_CORRUPT",
        file,
        `Cannot read ${what}: it inflates to ${out.byteLength} bytes but declares ${entry.size}`,
      );
    }
  } else {
    throw new BundleError(
      "BUNDLE_CORRUPT",
      file,
      `Cannot read ${what}: compression method ${entry.method} is not supported (only 0 and 8)`,
    );
  }
  const crc = checkCrc ? crc32(out) : entry.crc32;
  if (crc !== entry.crc32) {
    throw new BundleError(
      "BUNDLE_CHECKSUM",
      file,
      `Cannot read ${what}: CRC-32 is ${hex32(crc)} but the archive says ${hex32(entry.crc32)}`,
    );
  }
  return out;
}

function inflateBounded(raw: Uint8Array, maxBytes: number, what: string, file: string) {
  const chunks: Uint8Array[] = [];
  let total = 0;
  let done = false;
  const tooLarge = () =>
    new BundleError(
      "BUNDLE_TOO_LARGE",
      file,
      `Cannot read ${what}: it inflates past the ${maxBytes}-byte bound`,
    );
  const inflater = new Inflate((chunk, final) => {
    total += chunk.byteLength;
    // Throwing here aborts the push that produced the chunk.
    if (total > maxBytes) throw tooLarge();
    chunks.push(chunk);
    if (final) done = true;
  });
  try {
    for (let off = 0; off < raw.byteLength || off === 0; off += PUSH_BYTES) {
      const end = Math.min(off + PUSH_BYTES, raw.byteLength);
      inflater.push(raw.subarray(off, end), end >= raw.byteLength);
      if (end >= raw.byteLength) break;
    }
  } catch (e) {
    if (e instanceof BundleError) throw e;
    throw new BundleError(
      "BUNDLE_CORRUPT",
      file,
      `Cannot read ${what}: the deflate stream is invalid (${(e as Error).message})`,
      { cause: e },
    );
  }
  if (!done) {
    throw new BundleError(
      "BUNDLE_CORRUPT",
      file,
      `Cannot read ${what}: the deflate stream ends early`,
    );
  }
  return concatBytes(chunks);
}

/**
 * Write a zip archive with a fixed mtime, so output is reproducible.
 *
 * @param files entries by name, in order
 * @param mtime modification time to stamp on every entry
 * @param level deflate level 1-9, or 0 to store uncompressed
 * @returns the archive bytes
 */
export function writeZip(
  files: Record<string, Uint8Array>,
  mtime: Date,
  level: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 = 6,
): Uint8Array<ArrayBuffer> {
  // Zip timestamps are DOS dates: 1980..2099 only.
  const t = Math.min(Math.max(mtime.getTime(), Date.UTC(1980, 0, 2)), Date.UTC(2099, 11, 30));
  const input: Record<string, [Uint8Array, { level: typeof level; mtime: Date }]> = {};
  for (const [name, data] of Object.entries(files)) {
    input[name] = [data, { level, mtime: new Date(t) }];
  }
  return zipSync(input);
}

let CRC_TABLE: Uint32Array | undefined;

/** CRC-32 (IEEE, as zip uses), table-driven. */
export function crc32(data: Uint8Array): number {
  if (!CRC_TABLE) {
    CRC_TABLE = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      let c = i;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      CRC_TABLE[i] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function hex32(x: number): string {
  return x.toString(16).padStart(8, "0");
}
