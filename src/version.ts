/**
 * The package version, as `--version` prints it. Kept equal to deno.json's `version` (a test
 * checks it).
 *
 * @module
 */

/**
 * The version of this package.
 *
 * @example Read it
 * ```ts
 * import { ok } from "node:assert";
 * import { VERSION } from "./version.ts";
 * ok(/^\d+\.\d+\.\d+/.test(VERSION), VERSION); // semver, e.g. "0.1.0"
 * ```
 */
export const VERSION = "0.1.0";
