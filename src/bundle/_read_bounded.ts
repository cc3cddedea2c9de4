/**
 * Read a bundle's bytes from a path, a `file:` URL or an `http(s):` URL,
 * refusing it as soon as it passes a size bound (file size, `Content-Length`,
 * and again while streaming the body, which may have no length).
 *
 * @module
 */
import { concatBytes, fileUrlToPath, readAt } from "../model/mod.ts";
import { BundleError } from "./bundle_error.ts";

/**
 * Read a response's body, refusing it once it passes `maxBytes`: first by its `Content-Length`,
 * then while streaming (a chunked body has none). The body is cancelled when refused.
 *
 * @param res the response (status already checked)
 * @param maxBytes bound
 * @param tooLarge the error to throw, given the declared size or "more than N"
 * @returns the bytes
 *
 * @example Read a small body
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { readResponseBounded } from "./_read_bounded.ts";
 * const bytes = await readResponseBounded(new Response("abc"), 10, () => new Error("too large"));
 * assertEquals(bytes.length, 3);
 * ```
 */
export async function readResponseBounded(
  res: Response,
  maxBytes: number,
  tooLarge: (size: number | string) => Error,
): Promise<Uint8Array> {
  const declared = Number(res.headers.get("content-length") ?? NaN);
  if (declared > maxBytes) {
    await res.body?.cancel();
    throw tooLarge(declared);
  }
  if (!res.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw tooLarge(`more than ${maxBytes}`);
    }
    chunks.push(value);
  }
  return concatBytes(chunks);
}

/**
 * Read a file or URL, refusing it once it passes `maxBytes`.
 *
 * @param pathOrUrl path, `file:` URL or `http(s):` URL
 * @param maxBytes bound
 * @returns the bytes
 */
export async function readBounded(pathOrUrl: string | URL, maxBytes: number): Promise<Uint8Array> {
  const source = String(pathOrUrl);
  const url = pathOrUrl instanceof URL
    ? pathOrUrl
    : /^(https?|file):\/\//i.test(pathOrUrl)
    ? new URL(pathOrUrl)
    : null;
  const tooLarge = (n: number | string) =>
    new BundleError(
      "BUNDLE_TOO_LARGE",
      source,
      `Cannot read ${source}: it is ${n} bytes, over the ${maxBytes}-byte bound`,
    );
  if (url && (url.protocol === "http:" || url.protocol === "https:")) {
    let res: Response;
    try {
      res = await fetch(url);
    } catch (e) {
      throw new BundleError(
        "BUNDLE_FETCH_FAILED",
        source,
        `Cannot fetch ${source}: ${(e as Error).message}`,
        { cause: e },
      );
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new BundleError(
        res.status === 404 ? "FILE_NOT_FOUND" : "BUNDLE_FETCH_FAILED",
        source,
        `Cannot fetch ${source}: HTTP ${res.status} ${res.statusText}`,
      );
    }
    return await readResponseBounded(res, maxBytes, tooLarge);
  }
  const path = url ? fileUrlToPath(url) : source;
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new BundleError("FILE_NOT_FOUND", source, `Cannot read ${source}: no such file`, {
        cause: e,
      });
    }
    throw e;
  }
  try {
    const stat = await file.stat();
    if (stat.isDirectory) {
      throw new BundleError(
        "FILE_NOT_FOUND",
        source,
        `Cannot read ${source}: it is a folder, not a bundle file (*.prefix.zip)`,
      );
    }
    const size = stat.size;
    if (size > maxBytes) throw tooLarge(size);
    return await readAt(file, 0, size);
  } finally {
    file.close();
  }
}
