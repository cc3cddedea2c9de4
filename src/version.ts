/**
 * The package version, as `--version` prints it. Kept equal to deno.json's `version` (a test
 * checks it).
 *
 * @module
 */

/**
 * The version of this package.
 *
 * @example Print it
 * ```ts
 * import { VERSION } from "./version.ts";
 * console.log(`prefix-edge ${VERSION}`);
 * ```
 */
export const VERSION = "0.1.0";
