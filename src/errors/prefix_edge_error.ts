/**
 * The one error type callers catch. Every failure the SDK can predict carries a
 * stable `code` so that callers (the HTTP server, the CLI, tests) can branch on
 * it without parsing messages.
 *
 * @module
 */

/** Stable error codes. Add new codes here; never rename an existing one. */
export type ErrorCode =
  // model loading
  | "FILE_NOT_FOUND"
  | "CONFIG_INVALID"
  | "UNSUPPORTED_MODEL"
  | "SAFETENSORS_CORRUPT"
  | "TOKENIZER_MISSING"
  // inputs
  | "INVALID_INPUT"
  | "TOKEN_OUT_OF_RANGE"
  | "CONTEXT_OVERFLOW"
  | "PREFIX_MISMATCH"
  // backends
  | "BACKEND_UNAVAILABLE"
  | "GPU_UNAVAILABLE"
  // bundles
  | "BUNDLE_CORRUPT"
  | "BUNDLE_TOO_LARGE"
  | "BUNDLE_VERSION"
  | "BUNDLE_CHECKSUM"
  | "BUNDLE_NONFINITE"
  | "BASE_MISMATCH"
  | "BUNDLE_FETCH_FAILED"
  | "PEFT_INVALID"
  // training
  | "DATA_INVALID"
  | "TRAINING_DIVERGED"
  | "TRAINING_FAILED"
  | "CHECKPOINT_INVALID"
  | "CHECKPOINT_MISMATCH"
  // serving
  | "UNKNOWN_TASK"
  | "TASK_LOAD_FAILED"
  | "QUEUE_FULL"
  | "TIMEOUT"
  | "UNAUTHORIZED"
  | "PAYLOAD_TOO_LARGE"
  | "CANCELLED"
  // serving (HTTP layer)
  | "ROUTE_NOT_FOUND"
  | "METHOD_NOT_ALLOWED"
  | "ADMIN_DISABLED"
  | "STORE_READ_ONLY"
  | "INTERNAL_ERROR";

/**
 * An error raised by prefix-edge. `code` is stable; `message` reads
 * "Cannot <action>: <current state>".
 *
 * @example Branch on the code
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { PrefixEdgeError } from "./prefix_edge_error.ts";
 * let status = 500;
 * try {
 *   throw new PrefixEdgeError("UNKNOWN_TASK", "Cannot find task 'x': no such bundle");
 * } catch (e) {
 *   if (e instanceof PrefixEdgeError && e.code === "UNKNOWN_TASK") status = 404;
 * }
 * assertEquals(status, 404);
 * ```
 */
export class PrefixEdgeError extends Error {
  /** Stable machine-readable code. */
  readonly code: ErrorCode;
  /** The request field at fault, when there is one (OpenAI's `param`, e.g. `"messages"`). */
  readonly param?: string;

  /**
   * Make an error.
   *
   * @param code stable code
   * @param message human-readable message
   * @param options `cause` carries the underlying error, if any; `param` names the request
   *   field at fault
   */
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; param?: string }) {
    super(message, options && "cause" in options ? { cause: options.cause } : undefined);
    this.name = "PrefixEdgeError";
    this.code = code;
    if (options?.param !== undefined) this.param = options.param;
  }
}
