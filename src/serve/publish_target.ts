/**
 * Where a finished training run sends its bundle: a bundle store that replicas serve from (a
 * folder, or `s3://BUCKET/PREFIX`), or a running server (`http(s)://HOST`, through its
 * `PUT /v1/tasks/:task` with the admin token). `deno task train --publish` checks the target
 * before it trains, so that a wrong key, bucket or token fails in the first second rather than
 * after the run.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import { bundleFileName } from "./bundle_store.ts";
import { openBundleStore } from "./open_bundle_store.ts";

/** A place a bundle can be published to. */
export interface PublishTarget {
  /** Where it goes, for messages. */
  readonly location: string;
  /** A running server (uploads through its API), not a store that servers read. */
  readonly server: boolean;
  /**
   * Check that a publish can work before the bundle exists: the store lists (so the key and the
   * bucket are right), or the server answers and takes the token.
   *
   * @throws {PrefixEdgeError} with the reason, in one line
   */
  check(): Promise<void>;
  /**
   * Publish a bundle as `task`.
   *
   * @returns what the target says it did, in a few words
   * @throws {PrefixEdgeError} when the target refuses it or cannot be reached
   */
  publish(task: string, bytes: Uint8Array): Promise<string>;
}

/** Options of {@link openPublishTarget}. */
export interface PublishTargetOptions {
  /** The server's admin token (required for a server URL, unused otherwise). */
  token?: string;
  /** Largest bundle a store reads back (default: the store's). */
  maxBytes?: number;
  /** `fetch` (tests pass their own; default the global one). */
  fetch?: typeof fetch;
}

/**
 * Open a publish target: an `http(s)://` URL is a server (its uploads need `token`); anything
 * else opens as a bundle store (`s3://BUCKET/PREFIX` with the `AWS_*` variables, or a folder).
 *
 * @param spec a folder, `s3://BUCKET/PREFIX` or a server's base URL
 * @param options the server's token
 * @returns the target
 * @throws {PrefixEdgeError} `INVALID_INPUT` for a server URL without a token, or a bad `s3://` URL
 *
 * @example Publish to a folder that a server serves
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { openPublishTarget } from "./publish_target.ts";
 * const dir = await Deno.makeTempDir();
 * const target = openPublishTarget(dir);
 * await target.check();
 * assertEquals(await target.publish("greet", new Uint8Array([1, 2, 3])), `wrote ${dir}/greet.prefix.zip`);
 * assertEquals((await Deno.readFile(`${dir}/greet.prefix.zip`)).length, 3);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function openPublishTarget(spec: string, options: PublishTargetOptions = {}): PublishTarget {
  if (/^https?:\/\//i.test(spec)) return serverTarget(spec, options);
  const store = openBundleStore(spec, options.maxBytes);
  if (!store.writable) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      `Cannot publish to ${store.location}: it is read-only (publish to a folder, s3://BUCKET/PREFIX or a server URL)`,
    );
  }
  return {
    location: store.location,
    server: false,
    async check() {
      await store.list();
    },
    async publish(task, bytes) {
      await store.write(task, bytes);
      return `wrote ${store.location.replace(/\/?$/, "/")}${bundleFileName(task)}`;
    },
  };
}

function serverTarget(spec: string, options: PublishTargetOptions): PublishTarget {
  const base = spec.replace(/\/+$/, "");
  const token = options.token;
  if (!token) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      `Cannot publish to the server ${base}: it takes uploads with its admin token; pass --publish-token-file FILE`,
    );
  }
  const doFetch = options.fetch ?? fetch;
  const call = async (method: string, path: string, body?: Uint8Array) => {
    try {
      return await doFetch(`${base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body ? { "content-type": "application/zip" } : {}),
        },
        body: body as BodyInit | undefined,
      });
    } catch (e) {
      throw new PrefixEdgeError(
        "BUNDLE_FETCH_FAILED",
        `Cannot reach the server ${base}: ${(e as Error).message}`,
        { cause: e },
      );
    }
  };
  const refusal = async (res: Response, action: string) => {
    const body = await res.json().catch(() => null) as
      | { error?: { code?: string; prefix_edge_code?: string; message?: string } }
      | null;
    const code = body?.error?.prefix_edge_code ?? body?.error?.code;
    return new PrefixEdgeError(
      (code && /^[A-Z_]+$/.test(code) ? code : "INTERNAL_ERROR") as PrefixEdgeError["code"],
      `Cannot ${action}: the server answered ${res.status}${
        body?.error?.message ? `: ${body.error.message}` : ""
      }`,
    );
  };
  return {
    location: base,
    server: true,
    async check() {
      // A DELETE of a name no task can have checks the token and touches nothing: the server
      // checks the token first (401 wrong, 403 uploads off), then refuses the name (400).
      const res = await call("DELETE", "/v1/tasks/Publish-Check");
      if (res.status === 400) return void await res.body?.cancel();
      throw await refusal(res, `publish to the server ${base}`);
    },
    async publish(task, bytes) {
      const res = await call("PUT", `/v1/tasks/${encodeURIComponent(task)}`, bytes);
      if (!res.ok) throw await refusal(res, `publish task '${task}' to the server ${base}`);
      const body = await res.json().catch(() => ({})) as { replaced?: boolean };
      return `${body.replaced ? "replaced" : "added"} task '${task}' on ${base}`;
    },
  };
}
