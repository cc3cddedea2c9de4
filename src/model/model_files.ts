/**
 * Where a model folder's files come from: a folder on disk (Deno), a URL (a page, or a server
 * that serves a Hugging Face layout), or files in memory (a user's dropped folder). Everything that
 * reads a model (`loadModel`, weights, the ONNX graph, fingerprints) reads through
 * {@link ModelFiles}, so the same code runs in Deno and in a browser; only {@link folderFiles}
 * touches `Deno.*`, and only when it is called.
 *
 * @module
 */
import { isAbsolute, join } from "pathe";
import { PrefixEdgeError } from "../errors/mod.ts";
import { readAt } from "./bytes.ts";

/** Random access to one file's bytes. */
export interface RandomAccessFile {
  /** The file's size in bytes. */
  readonly size: number;
  /**
   * Read `length` bytes from byte `start`.
   *
   * @returns exactly `length` bytes
   * @throws {PrefixEdgeError} `FILE_NOT_FOUND` when the file ended first
   */
  read(start: number, length: number): Promise<Uint8Array<ArrayBuffer>>;
  /** Release the file. */
  close(): void;
}

/** What a source holds at its root. */
export type SourceKind = "folder" | "file" | "missing";

/** The files of a model folder, wherever they live. Paths are relative, with `/`. */
export interface ModelFiles {
  /** How messages name the folder: a path or a URL. */
  readonly name: string;
  /** What the root is, for the message when config.json is missing. */
  kind(): Promise<SourceKind>;
  /** Whether the file exists. */
  has(rel: string): Promise<boolean>;
  /** A file's bytes, or `undefined` when it is absent. */
  read(rel: string): Promise<Uint8Array<ArrayBuffer> | undefined>;
  /** Random access to a file, or `undefined` when it is absent. */
  open(rel: string): Promise<RandomAccessFile | undefined>;
  /** The name of a file in messages and `ModelPaths` (a path, a URL, or `name/rel`). */
  nameOf(rel: string): string;
  /** The file's path on disk, where it has one (onnxruntime-node reads big graphs by path). */
  localPath?(rel: string): string;
}

/** A file in memory: bytes, or a `Blob` / `File` (read lazily, by slices). */
export type FileContent = Uint8Array | Blob;

/** What `loadModel` takes: a path or URL string, a `URL`, a file map, or a {@link ModelFiles}. */
export type ModelSource =
  | string
  | URL
  | ModelFiles
  | Map<string, FileContent>
  | Record<string, FileContent>;

/**
 * Resolve a model source to its files.
 *
 * @example A model in memory
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { modelFiles } from "./model_files.ts";
 * const files = modelFiles({ "config.json": new TextEncoder().encode("{}") });
 * assertEquals([await files.has("config.json"), await files.has("tokenizer.json")], [true, false]);
 * ```
 *
 * @param source a folder path, an `http(s):` or `file:` URL (string or `URL`), a map of relative
 *   paths to bytes or Blobs, or a {@link ModelFiles}
 * @returns the files
 */
export function modelFiles(source: ModelSource): ModelFiles {
  if (typeof source === "string") {
    return /^(https?|blob):/i.test(source)
      ? urlFiles(new URL(source))
      : /^file:/i.test(source)
      ? folderFiles(fileUrlToPath(new URL(source)))
      : folderFiles(source);
  }
  if (source instanceof URL) {
    return source.protocol === "file:" ? folderFiles(fileUrlToPath(source)) : urlFiles(source);
  }
  if (isModelFiles(source)) return source;
  return memoryFiles(source instanceof Map ? source : new Map(Object.entries(source)));
}

function isModelFiles(x: unknown): x is ModelFiles {
  const f = x as Partial<ModelFiles>;
  return typeof f.read === "function" && typeof f.open === "function" &&
    typeof f.has === "function" && typeof f.kind === "function";
}

/** A `file:` URL's path (without node:url, so that a page can load this module). */
export function fileUrlToPath(url: URL): string {
  const path = decodeURIComponent(url.pathname);
  return /^\/[A-Za-z]:\//.test(path) ? path.slice(1) : path;
}

const short = (n: number, start: number, length: number, name: string) =>
  new PrefixEdgeError(
    "FILE_NOT_FOUND",
    `Cannot read ${name}: it ended after ${start + n} of ${start + length} bytes`,
  );

/** A random-access view of bytes in memory. */
export function bytesFile(bytes: Uint8Array, name = "<bytes>"): RandomAccessFile {
  return {
    size: bytes.byteLength,
    read(start, length) {
      if (start + length > bytes.byteLength) {
        return Promise.reject(short(Math.max(0, bytes.byteLength - start), start, length, name));
      }
      return Promise.resolve(bytes.slice(start, start + length));
    },
    close() {},
  };
}

/** A random-access view of a `Blob` (a `File` a user dropped): reads slice it, nothing more. */
export function blobFile(blob: Blob, name = "<blob>"): RandomAccessFile {
  return {
    size: blob.size,
    async read(start, length) {
      const out = new Uint8Array(await blob.slice(start, start + length).arrayBuffer());
      if (out.byteLength !== length) throw short(out.byteLength, start, length, name);
      return out;
    },
    close() {},
  };
}

/**
 * Files in memory, keyed by relative path (`config.json`, `onnx/model.onnx`): what a page gets
 * from a dropped folder or a file picker. A common leading folder is dropped, so the entries of
 * `webkitRelativePath` (`stories260K/config.json`) work as they come.
 *
 * @param entries relative path to bytes or Blob
 * @param name how messages name the folder
 * @returns the files
 */
export function memoryFiles(entries: Map<string, FileContent>, name = "<files>"): ModelFiles {
  const map = new Map<string, FileContent>();
  const keys = [...entries.keys()].map((k) => k.replace(/\\/g, "/").replace(/^\.?\//, ""));
  const first = keys[0]?.split("/")[0];
  const common = first && keys.length > 0 && !keys.includes("config.json") &&
      keys.every((k) => k.startsWith(first + "/"))
    ? first.length + 1
    : 0;
  [...entries.values()].forEach((v, i) => map.set(keys[i].slice(common), v));
  const asBytes = async (v: FileContent) =>
    v instanceof Uint8Array
      ? new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength) as ArrayBuffer)
      : new Uint8Array(await v.arrayBuffer());
  return {
    name,
    kind: () => Promise.resolve(map.size > 0 ? "folder" : "missing"),
    has: (rel) => Promise.resolve(map.has(rel)),
    async read(rel) {
      const v = map.get(rel);
      return v === undefined ? undefined : await asBytes(v);
    },
    open(rel) {
      const v = map.get(rel);
      if (v === undefined) return Promise.resolve(undefined);
      const n = `${name}/${rel}`;
      return Promise.resolve(v instanceof Uint8Array ? bytesFile(v, n) : blobFile(v, n));
    },
    nameOf: (rel) => `${name}/${rel}`,
  };
}

/** Cache API bucket for model files fetched by URL, so a page does not download them twice. */
export const MODEL_CACHE = "prefix-edge-models-v1";

/**
 * Files served over HTTP from a folder URL (a Hugging Face layout under `base`). Each file is
 * fetched once; where the Cache API exists (pages, Deno), responses are kept there, so a reload
 * does not download the model again. A missing file is a 404.
 *
 * @param base the folder's URL (a trailing `/` is added)
 * @returns the files
 */
export function urlFiles(base: URL): ModelFiles {
  const root = new URL(base.href.endsWith("/") ? base.href : base.href + "/");
  const fetched = new Map<string, Promise<Uint8Array<ArrayBuffer> | undefined>>();
  const get = (rel: string) => {
    let p = fetched.get(rel);
    if (!p) {
      p = fetchCached(new URL(rel, root));
      fetched.set(rel, p);
    }
    return p;
  };
  return {
    name: root.href.replace(/\/$/, ""),
    async kind() {
      const config = await get("config.json").catch(() => undefined);
      return config ? "folder" : "missing";
    },
    has: async (rel) => (await get(rel)) !== undefined,
    read: (rel) => get(rel),
    async open(rel) {
      const bytes = await get(rel);
      return bytes && bytesFile(bytes, new URL(rel, root).href);
    },
    nameOf: (rel) => new URL(rel, root).href,
  };
}

async function fetchCached(url: URL): Promise<Uint8Array<ArrayBuffer> | undefined> {
  const cache = await openCache();
  const hit = await cache?.match(url.href);
  if (hit) return new Uint8Array(await hit.arrayBuffer());
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new PrefixEdgeError(
      "FILE_NOT_FOUND",
      `Cannot fetch ${url.href}: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  if (res.status === 404) {
    await res.body?.cancel();
    return undefined;
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new PrefixEdgeError("FILE_NOT_FOUND", `Cannot fetch ${url.href}: HTTP ${res.status}`);
  }
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (cache && url.protocol.startsWith("http")) {
    await cache.put(url.href, new Response(bytes, { headers: res.headers })).catch(() => {});
  }
  return bytes;
}

async function openCache(): Promise<Cache | undefined> {
  try {
    return "caches" in globalThis ? await caches.open(MODEL_CACHE) : undefined;
  } catch {
    return undefined; // an opaque origin or a denied permission: no cache, not an error
  }
}

/**
 * A folder on disk (Deno). The only reader of the file system here, and reached only when a
 * path is given.
 *
 * @param dir the folder's path (`""`: paths are used as given)
 * @returns the files
 */
export function folderFiles(dir: string): ModelFiles {
  const path = (rel: string) => (dir === "" || isAbsolute(rel) ? rel : join(dir, rel));
  const stat = async (p: string) => {
    try {
      return await Deno.stat(p);
    } catch {
      return null;
    }
  };
  return {
    name: dir,
    async kind() {
      const s = await stat(dir);
      return !s ? "missing" : s.isDirectory ? "folder" : "file";
    },
    has: async (rel) => (await stat(path(rel)))?.isFile ?? false,
    async read(rel) {
      try {
        return await Deno.readFile(path(rel));
      } catch (e) {
        if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
          return undefined;
        }
        throw e;
      }
    },
    async open(rel) {
      const p = path(rel);
      let file: Deno.FsFile;
      try {
        file = await Deno.open(p, { read: true });
      } catch (e) {
        if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
          return undefined;
        }
        throw e;
      }
      const info = await file.stat();
      if (!info.isFile) {
        file.close();
        return undefined;
      }
      return denoFile(file, info.size, p);
    },
    nameOf: path,
    localPath: path,
  };
}

/** An open Deno file as a {@link RandomAccessFile}. */
export function denoFile(file: Deno.FsFile, size: number, name: string): RandomAccessFile {
  return {
    size,
    async read(start, length) {
      const out = await readAt(file, start, length);
      if (out.length !== length) throw short(out.length, start, length, name);
      return out;
    },
    close: () => file.close(),
  };
}
