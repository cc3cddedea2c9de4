/**
 * Writing an ONNX model to disk with its weights as ONNX external data: each tensor appended to
 * one `<graph>_data` file, 4 KiB-aligned (ONNX Runtime maps aligned tensors from the file
 * instead of copying them), and the graph's chunks written without joining them into one
 * buffer. The decoder exporter and the ONNX training graph both write through here.
 *
 * @module
 */
import type { TensorData } from "./proto.ts";

/** Alignment of each tensor in the external data file (a page). */
export const EXTERNAL_ALIGN = 4096;

/** The external data file, written tensor by tensor. */
export class ExternalData {
  /** Bytes written so far (the file's size). */
  size = 0;
  private constructor(private readonly file: Deno.FsFile, private readonly location: string) {}

  /**
   * Create (or truncate) the file.
   *
   * @param path where to write it
   * @param location its name as the graph records it (relative to the graph's folder)
   * @returns the writer
   */
  static async create(path: string, location: string): Promise<ExternalData> {
    const file = await Deno.open(path, { write: true, create: true, truncate: true });
    return new ExternalData(file, location);
  }

  /**
   * Append one tensor's bytes.
   *
   * @param bytes the tensor's raw little-endian bytes
   * @returns where the graph finds them
   */
  async append(bytes: Uint8Array): Promise<TensorData> {
    const offset = Math.ceil(this.size / EXTERNAL_ALIGN) * EXTERNAL_ALIGN;
    if (offset > this.size) await writeAll(this.file, new Uint8Array(offset - this.size));
    await writeAll(this.file, bytes);
    this.size = offset + bytes.byteLength;
    return { external: { location: this.location, offset, length: bytes.byteLength } };
  }

  /** Close the file. */
  close(): void {
    this.file.close();
  }
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let pos = 0;
  while (pos < bytes.byteLength) pos += await file.write(bytes.subarray(pos));
}

/**
 * Write chunks to a file, small ones coalesced.
 *
 * @param path the file
 * @param chunks its contents, in order (e.g. `GraphBuilder.toChunks()`)
 * @returns bytes written
 */
export async function writeChunks(path: string, chunks: readonly Uint8Array[]): Promise<number> {
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    const buf = new Uint8Array(1 << 20);
    let fill = 0, total = 0;
    for (const c of chunks) {
      total += c.byteLength;
      if (fill + c.byteLength > buf.byteLength) {
        await writeAll(file, buf.subarray(0, fill));
        fill = 0;
      }
      if (c.byteLength >= buf.byteLength) await writeAll(file, c);
      else {
        buf.set(c, fill);
        fill += c.byteLength;
      }
    }
    await writeAll(file, buf.subarray(0, fill));
    return total;
  } finally {
    file.close();
  }
}
