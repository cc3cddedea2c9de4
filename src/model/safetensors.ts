/**
 * A safetensors reader and writer.
 *
 * Layout: 8-byte little-endian header length N, N bytes of JSON header, then
 * the data section. The reader never trusts the header: it bounds its size,
 * checks every dtype, shape and offset against the byte length, and requires
 * the tensors to tile the data section exactly (no holes, no overlap), as the
 * reference Rust implementation does.
 *
 * Files are read lazily, one tensor at a time (`Deno.FsFile.seek` + `read`),
 * so a model is never held in memory twice. F16 uses the built-in
 * `Float16Array`; BF16 is widened by a shift (it is the top half of an f32).
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import { folderFiles, type RandomAccessFile } from "./model_files.ts";

/** Element types the reader accepts. */
export type SafetensorsDtype = "F32" | "F16" | "BF16" | "I8" | "U8" | "I32" | "I64" | "F64";

const DTYPE_BYTES: Record<SafetensorsDtype, number> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  I8: 1,
  U8: 1,
  I32: 4,
  I64: 8,
  F64: 8,
};

/** Headers larger than this are refused (the reference implementation uses the same bound). */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** One tensor's entry in the header. Offsets are absolute positions in the file. */
export interface TensorInfo {
  /** Tensor name, as in the header. */
  name: string;
  /** Element type. */
  dtype: SafetensorsDtype;
  /** Dimensions, row-major. */
  shape: number[];
  /** Absolute byte offset of the first element. */
  start: number;
  /** Byte length. */
  byteLength: number;
}

/** A tensor to write. `data` must hold exactly `prod(shape)` elements of `dtype`. */
export interface TensorToWrite {
  /** Element type to record in the header (the bytes of `data` are written as they are). */
  dtype: SafetensorsDtype;
  /** Dimensions, row-major. */
  shape: number[];
  /** The elements; any typed array whose bytes are `dtype` little-endian. */
  data: Float32Array | Float16Array | Int8Array | Uint8Array | Int32Array | Float64Array;
}

/** Where the bytes come from: an open file or an in-memory buffer. */
interface ByteSource {
  read(start: number, length: number): Promise<Uint8Array>;
  close(): void;
}

/**
 * A parsed safetensors container. Open it with {@link SafetensorsFile.open}
 * (a path; reads lazily) or {@link SafetensorsFile.fromBytes}.
 *
 * @example Read one tensor as f32
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { SafetensorsFile } from "./safetensors.ts";
 * const st = await SafetensorsFile.open("models/stories260K/model.safetensors");
 * const emb = await st.getFloat32("model.embed_tokens.weight");
 * assertEquals(emb.length, 512 * 64); // [vocab, d_model]
 * st.close();
 * ```
 */
export class SafetensorsFile {
  /** Tensor entries by name, in header order. */
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  /** The `__metadata__` string map (empty if absent). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Name used in error messages (usually the path). */
  readonly source: string;
  #bytes: ByteSource;

  private constructor(
    source: string,
    bytes: ByteSource,
    tensors: Map<string, TensorInfo>,
    metadata: Record<string, string>,
  ) {
    this.source = source;
    this.#bytes = bytes;
    this.tensors = tensors;
    this.metadata = metadata;
  }

  /**
   * Open a file and parse its header; tensor data is read on demand.
   *
   * @param path file path
   * @returns the parsed container (call `close()` when done)
   * @throws {PrefixEdgeError} `FILE_NOT_FOUND`, or `SAFETENSORS_CORRUPT` for a bad header
   */
  static async open(path: string): Promise<SafetensorsFile> {
    const file = await folderFiles("").open(path);
    if (!file) {
      const what = (await folderFiles(path).kind()) === "folder"
        ? "it is a folder, not a safetensors file"
        : "no such file";
      throw new PrefixEdgeError("FILE_NOT_FOUND", `Cannot open ${path}: ${what}`);
    }
    return await SafetensorsFile.fromFile(file, path);
  }

  /**
   * Parse a container read by random access (a file on disk, a `Blob`, bytes fetched from a
   * URL); tensor data is read on demand. Takes ownership of `file`.
   *
   * @param file the container's bytes
   * @param source name for error messages
   * @returns the parsed container (call `close()` when done)
   * @throws {PrefixEdgeError} `SAFETENSORS_CORRUPT` for a bad header or a short file
   */
  static async fromFile(file: RandomAccessFile, source: string): Promise<SafetensorsFile> {
    const bytes: ByteSource = {
      async read(start, length) {
        try {
          return await file.read(start, length);
        } catch (e) {
          throw new PrefixEdgeError(
            "SAFETENSORS_CORRUPT",
            `Cannot read ${source}: ${(e as Error).message.replace(/^Cannot read [^:]*: /, "")}`,
            { cause: e },
          );
        }
      },
      close: () => file.close(),
    };
    try {
      return await SafetensorsFile.#parse(source, bytes, file.size);
    } catch (e) {
      file.close();
      throw e;
    }
  }

  /**
   * Parse an in-memory container. Tensor reads copy out of `bytes`.
   *
   * @param bytes the whole file
   * @param source name for error messages
   * @returns the parsed container
   * @throws {PrefixEdgeError} `SAFETENSORS_CORRUPT` for a bad header
   */
  static fromBytes(bytes: Uint8Array, source = "<bytes>"): Promise<SafetensorsFile> {
    const src: ByteSource = {
      read: (start, length) => Promise.resolve(bytes.slice(start, start + length)),
      close: () => {},
    };
    return SafetensorsFile.#parse(source, src, bytes.byteLength);
  }

  static async #parse(source: string, bytes: ByteSource, size: number): Promise<SafetensorsFile> {
    const corrupt = (why: string): never => {
      throw new PrefixEdgeError("SAFETENSORS_CORRUPT", `Cannot parse ${source}: ${why}`);
    };
    if (size < 8) corrupt(`file is ${size} bytes, shorter than the 8-byte header length`);
    const lenBytes = await bytes.read(0, 8);
    const headerLen = Number(new DataView(lenBytes.buffer).getBigUint64(0, true));
    if (headerLen > MAX_HEADER_BYTES) {
      corrupt(`header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte bound`);
    }
    if (8 + headerLen > size) {
      corrupt(`header length ${headerLen} runs past the end of the ${size}-byte file`);
    }
    let header: unknown;
    try {
      header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(
        await bytes.read(8, headerLen),
      ));
    } catch {
      corrupt("header is not valid UTF-8 JSON");
    }
    if (header === null || typeof header !== "object" || Array.isArray(header)) {
      corrupt("header is not a JSON object");
    }
    const dataStart = 8 + headerLen;
    const dataLen = size - dataStart;
    const tensors = new Map<string, TensorInfo>();
    let metadata: Record<string, string> = {};
    const spans: [number, number, string][] = [];
    for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
      if (name === "__metadata__") {
        if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
          corrupt("__metadata__ is not an object");
        }
        metadata = Object.fromEntries(
          Object.entries(entry as Record<string, unknown>).map(([k, v]) => [k, String(v)]),
        );
        continue;
      }
      const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (typeof e !== "object" || e === null) corrupt(`entry "${name}" is not an object`);
      const dtype = e.dtype as SafetensorsDtype;
      if (typeof dtype !== "string" || !(dtype in DTYPE_BYTES)) {
        corrupt(`tensor "${name}" has unsupported dtype ${JSON.stringify(e.dtype)}`);
      }
      if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) {
        corrupt(`tensor "${name}" has an invalid shape ${JSON.stringify(e.shape)}`);
      }
      const shape = e.shape as number[];
      const offs = e.data_offsets;
      if (
        !Array.isArray(offs) || offs.length !== 2 ||
        !offs.every((o) => Number.isInteger(o) && o >= 0) || offs[1] < offs[0]
      ) {
        corrupt(`tensor "${name}" has invalid data_offsets ${JSON.stringify(offs)}`);
      }
      const [b, end] = offs as [number, number];
      const expected = shape.reduce((a, d) => a * d, 1) * DTYPE_BYTES[dtype];
      if (end - b !== expected) {
        corrupt(
          `tensor "${name}" (${dtype} ${
            JSON.stringify(shape)
          }) needs ${expected} bytes but data_offsets span ${end - b}`,
        );
      }
      if (end > dataLen) {
        corrupt(`tensor "${name}" ends at byte ${end}, past the ${dataLen}-byte data section`);
      }
      spans.push([b, end, name]);
      tensors.set(name, { name, dtype, shape, start: dataStart + b, byteLength: end - b });
    }
    // The tensors must tile the data section: no gaps, no overlaps.
    spans.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    let cursor = 0;
    for (const [b, end, name] of spans) {
      if (b !== cursor) {
        corrupt(
          b < cursor
            ? `tensor "${name}" overlaps the previous tensor`
            : `gap before tensor "${name}"`,
        );
      }
      cursor = end;
    }
    if (cursor !== dataLen) {
      corrupt(`tensors cover ${cursor} bytes but the data section holds ${dataLen}`);
    }
    return new SafetensorsFile(source, bytes, tensors, metadata);
  }

  /**
   * Look up a tensor's header entry.
   *
   * @param name tensor name
   * @returns the header entry
   * @throws {PrefixEdgeError} `SAFETENSORS_CORRUPT` if absent
   */
  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) {
      throw new PrefixEdgeError(
        "SAFETENSORS_CORRUPT",
        `Cannot find tensor "${name}" in ${this.source}: it holds ${
          [...this.tensors.keys()].slice(0, 8).join(", ")
        }${this.tensors.size > 8 ? ", ..." : ""}`,
      );
    }
    return t;
  }

  /**
   * Whether the container holds a tensor.
   *
   * @param name tensor name
   * @returns whether a tensor of that name exists
   */
  has(name: string): boolean {
    return this.tensors.has(name);
  }

  /**
   * Read a tensor's raw little-endian bytes (a fresh copy).
   *
   * @param name tensor name
   * @returns the bytes
   */
  getBytes(name: string): Promise<Uint8Array> {
    const t = this.info(name);
    return this.#bytes.read(t.start, t.byteLength);
  }

  /**
   * Read a byte range inside one tensor's data, without reading the rest of
   * the tensor (fingerprints sample a few KiB of a 150 MB embedding).
   *
   * @param name tensor name
   * @param byteOffset offset from the tensor's first byte
   * @param byteLength number of bytes
   * @returns the bytes (a fresh copy)
   * @throws {PrefixEdgeError} `INVALID_INPUT` if the range leaves the tensor
   */
  readRange(name: string, byteOffset: number, byteLength: number): Promise<Uint8Array> {
    const t = this.info(name);
    if (
      !Number.isInteger(byteOffset) || !Number.isInteger(byteLength) || byteOffset < 0 ||
      byteLength < 0 || byteOffset + byteLength > t.byteLength
    ) {
      throw new PrefixEdgeError(
        "INVALID_INPUT",
        `Cannot read bytes [${byteOffset}, ${
          byteOffset + byteLength
        }) of tensor "${name}": it holds ${t.byteLength} bytes`,
      );
    }
    return this.#bytes.read(t.start + byteOffset, byteLength);
  }

  /**
   * Read a floating-point tensor widened to f32.
   *
   * @param name tensor name
   * @returns row-major values
   * @throws {PrefixEdgeError} `SAFETENSORS_CORRUPT` if the dtype is not F32, F16, BF16 or F64
   */
  async getFloat32(name: string): Promise<Float32Array> {
    const t = this.info(name);
    const raw = await this.#bytes.read(t.start, t.byteLength);
    return decodeFloat32(raw, t.dtype, `${this.source}:${name}`);
  }

  /** Release the file handle (no-op for in-memory containers). */
  close(): void {
    this.#bytes.close();
  }
}

/**
 * Widen raw little-endian floats to f32.
 *
 * @param raw bytes (a fresh, 0-offset copy is fastest; any alignment works)
 * @param dtype F32, F16, BF16 or F64
 * @param what name for error messages
 * @returns f32 values
 */
export function decodeFloat32(
  raw: Uint8Array,
  dtype: SafetensorsDtype,
  what: string,
): Float32Array {
  const aligned = (raw.byteOffset % 8 === 0) ? raw : raw.slice();
  switch (dtype) {
    case "F32":
      return new Float32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4);
    case "F16":
      return Float32Array.from(
        new Float16Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 2),
      );
    case "BF16": {
      const half = new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 2);
      const bits = new Uint32Array(half.length);
      for (let i = 0; i < half.length; i++) bits[i] = half[i] << 16;
      return new Float32Array(bits.buffer);
    }
    case "F64":
      return Float32Array.from(
        new Float64Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 8),
      );
    default:
      throw new PrefixEdgeError(
        "SAFETENSORS_CORRUPT",
        `Cannot read ${what} as floats: dtype is ${dtype}`,
      );
  }
}

/**
 * Serialize tensors to safetensors bytes. Tensors are written in the given
 * order; the header is padded with spaces to an 8-byte boundary.
 *
 * @param tensors tensors by name
 * @param metadata optional `__metadata__` string map
 * @returns the file bytes
 * @throws {PrefixEdgeError} `INVALID_INPUT` if a tensor's data length does not match its shape
 */
export function encodeSafetensors(
  tensors: Record<string, TensorToWrite>,
  metadata?: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  const parts: Uint8Array[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    const n = t.shape.reduce((a, d) => a * d, 1);
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    if (bytes.byteLength !== n * DTYPE_BYTES[t.dtype]) {
      throw new PrefixEdgeError(
        "INVALID_INPUT",
        `Cannot write tensor "${name}": ${t.dtype} ${JSON.stringify(t.shape)} needs ${
          n * DTYPE_BYTES[t.dtype]
        } bytes, got ${bytes.byteLength}`,
      );
    }
    header[name] = {
      dtype: t.dtype,
      shape: t.shape,
      data_offsets: [offset, offset + bytes.length],
    };
    parts.push(bytes);
    offset += bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  // Pad with spaces (measured in bytes, not UTF-16 units) so data starts 8-aligned.
  const headerBytes = new Uint8Array(json.length + ((8 - (json.length % 8)) % 8)).fill(0x20);
  headerBytes.set(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}
