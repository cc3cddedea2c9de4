/**
 * The error a bundle reader or writer throws. It is a {@link PrefixEdgeError}
 * (servers map its `code` to an HTTP status in one place) that also names the
 * file it was reading.
 *
 * @module
 */
import { type ErrorCode, PrefixEdgeError } from "../errors/mod.ts";

/**
 * A bundle could not be read, verified or written. `code` says why
 * (`BUNDLE_CORRUPT`, `BUNDLE_TOO_LARGE`, `BUNDLE_VERSION`, `BUNDLE_CHECKSUM`,
 * `BUNDLE_NONFINITE`, `BASE_MISMATCH`, `PREFIX_MISMATCH`, `PEFT_INVALID`,
 * `BUNDLE_FETCH_FAILED`, ...); `file` names the bundle.
 *
 * @example Refuse a bundle by code
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { BundleError } from "./bundle_error.ts";
 * const e = new BundleError("BUNDLE_CHECKSUM", "task.prefix.zip", "Cannot read task.prefix.zip: checksum differs");
 * const refused = e.code === "BUNDLE_CHECKSUM" ? `refused ${e.file}` : "";
 * assertEquals(refused, "refused task.prefix.zip");
 * ```
 */
export class BundleError extends PrefixEdgeError {
  /** The bundle (path, URL or name) the error is about. */
  readonly file: string;

  /**
   * Make a bundle error.
   *
   * @param code stable code
   * @param file the bundle's name, for messages and callers
   * @param message "Cannot <action>: <state>", naming the file
   * @param options `cause` carries the underlying error, if any
   */
  constructor(code: ErrorCode, file: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = "BundleError";
    this.file = file;
  }
}
