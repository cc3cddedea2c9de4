/**
 * Pick a store from a `--bundles` argument.
 *
 * @module
 */
import type { BundleStore } from "./bundle_store.ts";
import { FolderBundleStore } from "./folder_bundle_store.ts";
import { HttpBundleStore } from "./http_bundle_store.ts";
import { s3StoreFromEnv } from "./s3_bundle_store.ts";

/**
 * Open a bundle store: `s3://BUCKET/PREFIX` gives an {@link S3BundleStore} configured from the
 * `AWS_*` environment variables; an `http(s)://` base URL gives a read-only
 * {@link HttpBundleStore}; anything else is a folder path.
 *
 * @param spec folder path, `s3://` URL or base URL
 * @param maxBytes largest bundle to read
 * @returns the store
 *
 * @example Open a folder or a URL
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { openBundleStore } from "./open_bundle_store.ts";
 * assertEquals(openBundleStore("bundles").writable, true);
 * assertEquals(openBundleStore("https://cdn.example.com/p").writable, false);
 * ```
 */
export function openBundleStore(spec: string, maxBytes?: number): BundleStore {
  if (/^s3:\/\//i.test(spec)) return s3StoreFromEnv(spec, undefined, maxBytes);
  if (/^https?:\/\//i.test(spec)) return new HttpBundleStore(spec, { maxBytes });
  return new FolderBundleStore(spec, maxBytes);
}
