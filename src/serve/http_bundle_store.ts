/**
 * A read-only store behind an HTTP base URL: `<base>/<task>.prefix.zip`.
 * This is how a Deno Deploy worker, which has no writable disk, gets bundles
 * (object storage, a CDN, a static file server).
 *
 * @module
 */
import { readResponseBounded } from "../bundle/mod.ts";
import { PrefixEdgeError } from "../errors/mod.ts";
import {
  bundleFileName,
  type BundleStore,
  DEFAULT_MAX_BUNDLE_BYTES,
  type VersionedRead,
} from "./bundle_store.ts";
import { validateTaskName } from "./task_name.ts";

/** Options for {@link HttpBundleStore}. */
export interface HttpBundleStoreOptions {
  /** Refuse bundles larger than this (default 64 MiB). */
  maxBytes?: number;
  /** Give up on one fetch after this long (default 30 s). */
  timeoutMs?: number;
  /** Replacement for `fetch` (tests, auth headers). */
  fetch?: typeof fetch;
}

/**
 * Bundles under an HTTP base URL, read-only.
 *
 * @example Read a bundle from a CDN
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { HttpBundleStore } from "./http_bundle_store.ts";
 * const store = new HttpBundleStore("https://cdn.example.com/prefixes");
 * // store.read("greet") fetches https://cdn.example.com/prefixes/greet.prefix.zip
 * assertEquals(store.writable, false); // read-only
 * ```
 */
export class HttpBundleStore implements BundleStore {
  readonly writable = false;
  readonly location: string;
  readonly #base: string;
  readonly #maxBytes: number;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;

  /**
   * Use an HTTP base URL as the store.
   *
   * @param baseUrl `http:` or `https:` URL of the folder
   * @param options limits and fetch override
   * @throws {PrefixEdgeError} `INVALID_INPUT` for a URL that is not http(s)
   */
  constructor(baseUrl: string, options: HttpBundleStoreOptions = {}) {
    let url: URL;
    try {
      url = new URL(baseUrl);
    } catch {
      throw new PrefixEdgeError("INVALID_INPUT", `Cannot use bundle store ${baseUrl}: not a URL`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new PrefixEdgeError(
        "INVALID_INPUT",
        `Cannot use bundle store ${baseUrl}: only http: and https: URLs are supported`,
      );
    }
    this.#base = url.href.endsWith("/") ? url.href : `${url.href}/`;
    this.location = this.#base;
    this.#maxBytes = options.maxBytes ?? DEFAULT_MAX_BUNDLE_BYTES;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#fetch = options.fetch ?? fetch;
  }

  async read(task: string): Promise<Uint8Array | null> {
    const got = await this.readVersion(task, null);
    return got.status === "found" ? got.bytes : null;
  }

  /**
   * A conditional GET: `If-None-Match: <known>` answers `304` while the server still has that
   * version. A version is the response's `ETag`, else `null` (the registry then compares bytes).
   */
  async readVersion(task: string, known: string | null): Promise<VersionedRead> {
    const url = new URL(bundleFileName(validateTaskName(task)), this.#base).href;
    let res: Response;
    try {
      res = await this.#fetch(url, {
        signal: AbortSignal.timeout(this.#timeoutMs),
        ...(known ? { headers: { "if-none-match": known } } : {}),
      });
    } catch (e) {
      throw new PrefixEdgeError(
        "TASK_LOAD_FAILED",
        `Cannot fetch ${url}: ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    }
    if (res.status === 404) {
      await res.body?.cancel();
      return { status: "missing" };
    }
    if (res.status === 304 && known) {
      await res.body?.cancel();
      return { status: "unchanged" };
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new PrefixEdgeError("TASK_LOAD_FAILED", `Cannot fetch ${url}: HTTP ${res.status}`);
    }
    const bytes = await readResponseBounded(res, this.#maxBytes, (n) =>
      new PrefixEdgeError(
        "BUNDLE_TOO_LARGE",
        typeof n === "number"
          ? `Cannot fetch ${url}: ${n} bytes is over the limit of ${this.#maxBytes}`
          : `Cannot fetch ${url}: ${n} bytes`,
      ));
    return { status: "found", bytes, version: res.headers.get("etag") };
  }

  write(task: string, _bytes?: Uint8Array): Promise<void> {
    return Promise.reject(this.#readOnly("upload", task));
  }

  remove(task: string): Promise<boolean> {
    return Promise.reject(this.#readOnly("delete", task));
  }

  /** An HTTP folder cannot be listed portably, so only cached tasks are known. */
  list(): Promise<null> {
    return Promise.resolve(null);
  }

  #readOnly(action: string, task: string): PrefixEdgeError {
    return new PrefixEdgeError(
      "STORE_READ_ONLY",
      `Cannot ${action} task '${task}': the bundle store ${this.location} is read-only (HTTP)`,
    );
  }
}
