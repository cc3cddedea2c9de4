/**
 * Bundles in an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO, GCS's S3 API):
 * `s3://BUCKET/PREFIX/<task>.prefix.zip`. Requests are signed with SigV4 by `aws4fetch`
 * (fetch and Web Crypto only, so the store runs in Deno, on Deno Deploy and in browsers).
 *
 * Reads are bounded like every store's (`Content-Length`, then while streaming) and the
 * registry verifies the bytes; a read can be conditional on the object's ETag, which is how
 * replicas on one bucket revalidate what they cache.
 *
 * @module
 */
import { AwsClient } from "aws4fetch";
import { readResponseBounded } from "../bundle/mod.ts";
import { type ErrorCode, PrefixEdgeError } from "../errors/mod.ts";
import { sha256Hex } from "../model/mod.ts";
import {
  BUNDLE_SUFFIX,
  bundleFileName,
  type BundleStore,
  DEFAULT_MAX_BUNDLE_BYTES,
  type VersionedRead,
} from "./bundle_store.ts";
import { TASK_NAME_PATTERN, validateTaskName } from "./task_name.ts";

/** Most ListObjectsV2 pages read for one listing (1000 keys each). */
const MAX_LIST_PAGES = 1000;
/** Most bytes of an S3 error body read to find its `<Code>`. */
const MAX_ERROR_BYTES = 64 * 1024;

/** Options for {@link S3BundleStore}. */
export interface S3BundleStoreOptions {
  /** The bucket. */
  bucket: string;
  /** Key prefix, a "folder" in the bucket (`""` for the top; a trailing `/` is added). */
  prefix?: string;
  /** `AWS_ACCESS_KEY_ID`. */
  accessKeyId: string;
  /** `AWS_SECRET_ACCESS_KEY`. */
  secretAccessKey: string;
  /** `AWS_SESSION_TOKEN`, for temporary credentials. */
  sessionToken?: string;
  /** `AWS_REGION` (default `us-east-1`; R2 takes `auto`). */
  region?: string;
  /** `AWS_ENDPOINT_URL`: the S3 API's base URL (default `https://s3.<region>.amazonaws.com`). */
  endpoint?: string;
  /**
   * Address the bucket as `<endpoint>/<bucket>/<key>` instead of `<bucket>.<endpoint host>/<key>`.
   * Default: on when `endpoint` is given (MinIO and most self-hosted servers need it; R2 accepts
   * it), off for AWS itself.
   */
  forcePathStyle?: boolean;
  /** Refuse bundles larger than this (default 64 MiB). */
  maxBytes?: number;
  /** Give up on one request after this long (default 30 s). */
  timeoutMs?: number;
  /** Retries of a request answered 5xx or 429, with backoff (default 2). */
  retries?: number;
  /** Keys per ListObjectsV2 page (1 to 1000, default 1000; tests use small pages). */
  listPageKeys?: number;
}

/** Why an {@link S3StoreError} happened. */
export type S3FailureKind = "credentials" | "no_bucket" | "unreachable" | "http";

/**
 * An S3 request that failed: a typed {@link PrefixEdgeError} (`TASK_LOAD_FAILED` for reads and
 * listings, `INTERNAL_ERROR` for writes and deletes) that also says why, in one line.
 */
export class S3StoreError extends PrefixEdgeError {
  /** `credentials` (403: wrong key, bad signature, expired token), `no_bucket`, `unreachable`, `http`. */
  readonly kind: S3FailureKind;
  /** S3's error code (`InvalidAccessKeyId`, `NoSuchBucket`, ...), when it sent one. */
  readonly s3Code: string | null;

  /**
   * Make an error.
   *
   * @param code the project's code
   * @param kind why
   * @param s3Code S3's code, if any
   * @param message one line: "Cannot <action>: <why>"
   * @param options the cause
   */
  constructor(
    code: ErrorCode,
    kind: S3FailureKind,
    s3Code: string | null,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.name = "S3StoreError";
    this.kind = kind;
    this.s3Code = s3Code;
  }
}

/**
 * Split `s3://BUCKET/PREFIX` into its bucket and key prefix.
 *
 * @param spec the URL
 * @returns the bucket and the prefix (`""` or ending in `/`)
 * @throws {PrefixEdgeError} `INVALID_INPUT` for anything else
 *
 * @example
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { parseS3Url } from "./s3_bundle_store.ts";
 * assertEquals(parseS3Url("s3://models/prefixes"), { bucket: "models", prefix: "prefixes/" });
 * ```
 */
export function parseS3Url(spec: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/i.exec(spec);
  // Bucket names: 3-63 of a-z, 0-9, '.', '-' (S3's rule; R2 and MinIO follow it).
  if (!m || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(m[1])) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      `Cannot use bundle store ${spec}: write s3://BUCKET or s3://BUCKET/PREFIX (a bucket is 3-63 of a-z, 0-9, '.', '-')`,
    );
  }
  const rest = (m[2] ?? "").replace(/^\/+|\/+$/g, "");
  return { bucket: m[1], prefix: rest ? `${rest}/` : "" };
}

/**
 * Open `s3://BUCKET/PREFIX` with the settings every S3 tool reads: `AWS_ACCESS_KEY_ID`,
 * `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` (or `AWS_DEFAULT_REGION`),
 * `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_S3`) and `AWS_S3_FORCE_PATH_STYLE` (`true`/`false`).
 *
 * @param spec `s3://BUCKET/PREFIX`
 * @param env where the variables come from (default: the process environment)
 * @param maxBytes largest bundle to read
 * @returns the store
 * @throws {PrefixEdgeError} `INVALID_INPUT` for a bad URL or missing credentials
 */
export function s3StoreFromEnv(
  spec: string,
  env: (name: string) => string | undefined = (name) => globalThis.Deno?.env.get(name),
  maxBytes?: number,
): S3BundleStore {
  const { bucket, prefix } = parseS3Url(spec);
  const accessKeyId = env("AWS_ACCESS_KEY_ID");
  const secretAccessKey = env("AWS_SECRET_ACCESS_KEY");
  if (!accessKeyId || !secretAccessKey) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      `Cannot use bundle store ${spec}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL for a store other than AWS)`,
    );
  }
  const pathStyle = env("AWS_S3_FORCE_PATH_STYLE");
  if (pathStyle !== undefined && !/^(true|false|1|0)$/i.test(pathStyle)) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      `Cannot use AWS_S3_FORCE_PATH_STYLE=${pathStyle}: write true or false`,
    );
  }
  return new S3BundleStore({
    bucket,
    prefix,
    accessKeyId,
    secretAccessKey,
    sessionToken: env("AWS_SESSION_TOKEN") || undefined,
    region: env("AWS_REGION") || env("AWS_DEFAULT_REGION") || undefined,
    endpoint: env("AWS_ENDPOINT_URL_S3") || env("AWS_ENDPOINT_URL") || undefined,
    ...(pathStyle !== undefined ? { forcePathStyle: /^(true|1)$/i.test(pathStyle) } : {}),
    maxBytes,
  });
}

/**
 * Bundles in an S3-compatible bucket: get, list (ListObjectsV2, paged), put and delete, signed
 * with SigV4. Writes are one `PutObject`, which S3 makes visible atomically.
 *
 * @example Open a bucket on a MinIO server
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { S3BundleStore } from "./s3_bundle_store.ts";
 * const store = new S3BundleStore({
 *   bucket: "bundles",
 *   prefix: "prod",
 *   accessKeyId: "minio",
 *   secretAccessKey: "minio-secret",
 *   endpoint: "http://127.0.0.1:9000",
 * });
 * // store.read("greet") signs GET http://127.0.0.1:9000/bundles/prod/greet.prefix.zip
 * assertEquals(store.location, "s3://bundles/prod/");
 * ```
 */
export class S3BundleStore implements BundleStore {
  readonly writable = true;
  /** `s3://BUCKET/PREFIX/`. */
  readonly location: string;
  /** The bucket. */
  readonly bucket: string;
  /** The key prefix (`""` or ending in `/`). */
  readonly prefix: string;
  /** Where requests go: the bucket's base URL, ending in `/`. */
  readonly bucketUrl: string;
  readonly #client: AwsClient;
  readonly #maxBytes: number;
  readonly #timeoutMs: number;
  readonly #endpoint: string;
  readonly #pageKeys: number;

  /**
   * Use a bucket as the store.
   *
   * @param options bucket, prefix, credentials, endpoint, addressing and limits
   * @throws {PrefixEdgeError} `INVALID_INPUT` for an endpoint that is not an http(s) URL
   */
  constructor(options: S3BundleStoreOptions) {
    const { bucket, prefix } = parseS3Url(`s3://${options.bucket}/${options.prefix ?? ""}`);
    this.bucket = bucket;
    this.prefix = prefix;
    this.location = `s3://${bucket}/${prefix}`;
    const region = options.region ?? "us-east-1";
    let endpoint: URL;
    try {
      endpoint = new URL(options.endpoint ?? `https://s3.${region}.amazonaws.com`);
    } catch {
      endpoint = new URL("invalid:");
    }
    if (endpoint.protocol !== "http:" && endpoint.protocol !== "https:") {
      throw new PrefixEdgeError(
        "INVALID_INPUT",
        `Cannot use S3 endpoint ${options.endpoint}: AWS_ENDPOINT_URL must be an http(s) URL`,
      );
    }
    this.#endpoint = endpoint.origin + endpoint.pathname.replace(/\/+$/, "");
    const pathStyle = options.forcePathStyle ?? options.endpoint !== undefined;
    this.bucketUrl = pathStyle
      ? `${this.#endpoint}/${bucket}/`
      : `${endpoint.protocol}//${bucket}.${endpoint.host}${endpoint.pathname.replace(/\/+$/, "")}/`;
    this.#client = new AwsClient({
      accessKeyId: options.accessKeyId,
      secretAccessKey: options.secretAccessKey,
      sessionToken: options.sessionToken,
      service: "s3",
      region,
      retries: options.retries ?? 2,
    });
    this.#maxBytes = options.maxBytes ?? DEFAULT_MAX_BUNDLE_BYTES;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#pageKeys = Math.min(1000, Math.max(1, Math.floor(options.listPageKeys ?? 1000)));
  }

  /** The object key of a task's bundle. */
  key(task: string): string {
    return `${this.prefix}${bundleFileName(validateTaskName(task))}`;
  }

  #objectUrl(task: string): string {
    return this.bucketUrl + this.key(task).split("/").map(encodeURIComponent).join("/");
  }

  async #send(
    action: string,
    code: ErrorCode,
    url: string,
    init: RequestInit = {},
  ): Promise<Response> {
    try {
      return await this.#client.fetch(url, {
        ...init,
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (e) {
      const why = (e as Error).name === "TimeoutError"
        ? `no answer in ${this.#timeoutMs / 1000} s`
        : (e as Error).message;
      throw new S3StoreError(
        code,
        "unreachable",
        null,
        `Cannot ${action}: the S3 endpoint ${this.#endpoint} is unreachable (${why}); check AWS_ENDPOINT_URL and AWS_REGION`,
        { cause: e },
      );
    }
  }

  /** Turn a failed response into a one-line typed error (reads at most 64 KiB of its body). */
  async #failure(action: string, code: ErrorCode, res: Response): Promise<S3StoreError> {
    let body = "";
    try {
      const bytes = await readResponseBounded(
        res,
        MAX_ERROR_BYTES,
        () => new Error("error body too long"),
      );
      body = new TextDecoder().decode(bytes);
    } catch {
      // The status alone says enough.
    }
    const s3Code = xmlText(body, "Code");
    const detail = xmlText(body, "Message");
    const tag = `HTTP ${res.status}${s3Code ? ` ${s3Code}` : ""}`;
    if (res.status === 403 || res.status === 401) {
      return new S3StoreError(
        code,
        "credentials",
        s3Code,
        `Cannot ${action}: the store refused the credentials (${tag}${
          detail ? `: ${detail}` : ""
        }); check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN`,
      );
    }
    if (s3Code === "NoSuchBucket") {
      return new S3StoreError(
        code,
        "no_bucket",
        s3Code,
        `Cannot ${action}: the bucket '${this.bucket}' does not exist at ${this.#endpoint}`,
      );
    }
    return new S3StoreError(
      code,
      "http",
      s3Code,
      `Cannot ${action}: ${tag}${detail ? `: ${detail}` : ""}`,
    );
  }

  async read(task: string): Promise<Uint8Array | null> {
    const got = await this.readVersion(task, null);
    return got.status === "found" ? got.bytes : null;
  }

  /**
   * GetObject, conditional on `If-None-Match: <known>` (S3 answers `304` while the object's ETag
   * is still `known`). The version is the object's ETag.
   */
  async readVersion(task: string, known: string | null): Promise<VersionedRead> {
    const url = this.#objectUrl(task);
    const action = `read ${this.location}${bundleFileName(task)}`;
    const res = await this.#send(action, "TASK_LOAD_FAILED", url, {
      ...(known ? { headers: { "if-none-match": known } } : {}),
    });
    if (res.status === 304 && known) {
      await res.body?.cancel();
      return { status: "unchanged" };
    }
    if (!res.ok) {
      const err = await this.#failure(action, "TASK_LOAD_FAILED", res);
      if (res.status === 404 && err.kind !== "no_bucket") return { status: "missing" };
      throw err;
    }
    const bytes = await readResponseBounded(res, this.#maxBytes, (n) =>
      new PrefixEdgeError(
        "BUNDLE_TOO_LARGE",
        `Cannot ${action}: ${n} bytes is over the limit of ${this.#maxBytes}`,
      ));
    return { status: "found", bytes, version: res.headers.get("etag") };
  }

  /**
   * PutObject, with the body's SHA-256 in the signature (`x-amz-content-sha256`), so a body
   * changed on the way is refused by the store.
   *
   * @returns the new object's ETag
   */
  async write(task: string, bytes: Uint8Array): Promise<string | null> {
    const action = `write ${this.location}${bundleFileName(task)}`;
    const res = await this.#send(action, "INTERNAL_ERROR", this.#objectUrl(task), {
      method: "PUT",
      body: bytes as Uint8Array<ArrayBuffer>,
      headers: {
        "content-type": "application/zip",
        "x-amz-content-sha256": await sha256Hex(bytes),
      },
    });
    if (!res.ok) throw await this.#failure(action, "INTERNAL_ERROR", res);
    await res.body?.cancel();
    return res.headers.get("etag");
  }

  /** DeleteObject; whether there was one comes from a listing first (S3's DELETE cannot say). */
  async remove(task: string): Promise<boolean> {
    const key = this.key(task);
    const action = `delete ${this.location}${bundleFileName(task)}`;
    const existed = (await this.#listKeys(key, "INTERNAL_ERROR", action, true)).includes(key);
    const res = await this.#send(action, "INTERNAL_ERROR", this.#objectUrl(task), {
      method: "DELETE",
    });
    if (!res.ok && res.status !== 404) throw await this.#failure(action, "INTERNAL_ERROR", res);
    await res.body?.cancel();
    return existed;
  }

  /**
   * List the tasks: `PREFIX<task>.prefix.zip` keys with a valid task name (ListObjectsV2 with
   * `delimiter=/`, so keys in deeper "folders" are not tasks), every page.
   *
   * @returns sorted task names
   */
  async list(): Promise<string[]> {
    const keys = await this.#listKeys(this.prefix, "TASK_LOAD_FAILED", `list ${this.location}`);
    const tasks: string[] = [];
    for (const key of keys) {
      const name = key.slice(this.prefix.length);
      if (!name.endsWith(BUNDLE_SUFFIX)) continue;
      const task = name.slice(0, -BUNDLE_SUFFIX.length);
      if (TASK_NAME_PATTERN.test(task) && !task.includes("..")) tasks.push(task);
    }
    return tasks.sort();
  }

  async #listKeys(
    prefix: string,
    code: ErrorCode,
    action: string,
    onePage = false,
  ): Promise<string[]> {
    const maxKeys = onePage ? 1 : this.#pageKeys;
    const keys: string[] = [];
    let token: string | null = null;
    for (let page = 0; page < MAX_LIST_PAGES; page++) {
      const q = new URLSearchParams({
        "list-type": "2",
        prefix,
        delimiter: "/",
        "max-keys": String(maxKeys),
      });
      if (token) q.set("continuation-token", token);
      const res = await this.#send(action, code, `${this.bucketUrl}?${q}`);
      if (!res.ok) throw await this.#failure(action, code, res);
      const xml = new TextDecoder().decode(
        await readResponseBounded(
          res,
          16 * 1024 * 1024,
          () => new PrefixEdgeError(code, `Cannot ${action}: the listing page is over 16 MiB`),
        ),
      );
      for (const m of xml.matchAll(/<Contents>[\s\S]*?<Key>([\s\S]*?)<\/Key>/g)) {
        keys.push(unescapeXml(m[1]));
      }
      token = xmlText(xml, "IsTruncated") === "true" ? xmlText(xml, "NextContinuationToken") : null;
      if (!token || onePage) return keys;
    }
    throw new PrefixEdgeError(
      code,
      `Cannot ${action}: more than ${MAX_LIST_PAGES} pages of keys under ${prefix}`,
    );
  }

  /**
   * A query-signed (presigned) GET URL for a task's bundle: anyone holding it can download the
   * bundle until it expires, without credentials (a browser, `curl`, an {@link HttpBundleStore}).
   *
   * @param task the task name
   * @param expiresS how long the URL works, seconds (1 to 604800, default 900)
   * @returns the URL
   */
  async presign(task: string, expiresS = 900): Promise<string> {
    if (!(expiresS >= 1 && expiresS <= 604800)) {
      throw new PrefixEdgeError(
        "INVALID_INPUT",
        `Cannot presign ${task}: ${expiresS} s is not between 1 s and 7 days`,
      );
    }
    const url = `${this.#objectUrl(task)}?X-Amz-Expires=${Math.round(expiresS)}`;
    return (await this.#client.sign(url, { aws: { signQuery: true } })).url;
  }
}

/** The text of the first `<tag>` in an XML document, unescaped, or null. */
function xmlText(xml: string, tag: string): string | null {
  const m = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(xml);
  return m ? unescapeXml(m[1]) : null;
}

function unescapeXml(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_, e: string) => {
    if (e[0] === "#") {
      return String.fromCodePoint(
        e[1] === "x" || e[1] === "X" ? parseInt(e.slice(2), 16) : +e.slice(1),
      );
    }
    return { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" }[e.toLowerCase()]!;
  });
}
