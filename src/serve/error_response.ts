/**
 * The server's one error shape and the one place where error codes become
 * HTTP statuses. The body follows OpenAI's error shape
 * (`{"error":{"message","type","param","code"}}`) so OpenAI clients surface it as-is. On the
 * OpenAI routes the common codes take OpenAI's names (`model_not_found`,
 * `context_length_exceeded`, ...; see {@link OPENAI_CODES}), and `prefix_edge_code` keeps ours.
 *
 * @module
 */
import { type ErrorCode, PrefixEdgeError } from "../errors/mod.ts";

/** The JSON body of every error response. */
export interface ErrorBody {
  /** The error itself. */
  error: {
    /** Stable code, one of {@link ErrorCode}; on the OpenAI routes OpenAI's name where it has one. */
    code: ErrorCode | string;
    /** "Cannot <action>: <state>". */
    message: string;
    /** OpenAI-style error class, derived from the status. */
    type: string;
    /** The request field at fault, or `null`. */
    param: string | null;
    /** Our code, where `code` holds OpenAI's name for it. */
    prefix_edge_code?: ErrorCode;
  };
}

/** OpenAI's names for the codes that OpenAI clients know. */
export const OPENAI_CODES: Readonly<Partial<Record<ErrorCode, string>>> = {
  UNKNOWN_TASK: "model_not_found",
  CONTEXT_OVERFLOW: "context_length_exceeded",
  QUEUE_FULL: "rate_limit_exceeded",
  UNAUTHORIZED: "invalid_api_key",
};

/** How {@link errorBody} writes an error. */
export interface ErrorBodyOptions {
  /** Use OpenAI's code names ({@link OPENAI_CODES}) for the OpenAI routes. */
  openai?: boolean;
  /** The field at fault when the error does not name one itself. */
  param?: string;
}

/**
 * The HTTP status for an error code. This is the only mapping in the server;
 * routes throw `PrefixEdgeError`s and never pick statuses themselves.
 *
 * @param code the error's code
 * @returns the HTTP status
 *
 * @example Look up a status
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { statusForCode } from "./error_response.ts";
 * assertEquals(statusForCode("QUEUE_FULL"), 429);
 * ```
 */
export function statusForCode(code: ErrorCode): number {
  switch (code) {
    case "INVALID_INPUT":
    case "TOKEN_OUT_OF_RANGE":
    case "CONTEXT_OVERFLOW":
    case "DATA_INVALID":
    case "CONFIG_INVALID":
      return 400;
    case "UNAUTHORIZED":
      return 401;
    case "ADMIN_DISABLED":
      return 403;
    case "UNKNOWN_TASK":
    case "ROUTE_NOT_FOUND":
    case "FILE_NOT_FOUND":
      return 404;
    case "STORE_READ_ONLY":
    case "METHOD_NOT_ALLOWED":
      return 405;
    case "PAYLOAD_TOO_LARGE":
    case "BUNDLE_TOO_LARGE":
      return 413;
    // A bundle that parses as a request but is not a usable prefix for this base.
    case "BUNDLE_CORRUPT":
    case "BUNDLE_VERSION":
    case "BUNDLE_CHECKSUM":
    case "BUNDLE_NONFINITE":
    case "BASE_MISMATCH":
    case "PREFIX_MISMATCH":
      return 422;
    case "QUEUE_FULL":
      return 429;
    // nginx's "client closed request": only logs and metrics ever see it.
    case "CANCELLED":
      return 499;
    // A bundle in the store that cannot be used is the server's fault, not the caller's.
    case "TASK_LOAD_FAILED":
    case "SAFETENSORS_CORRUPT":
    case "TOKENIZER_MISSING":
    case "UNSUPPORTED_MODEL":
    case "TRAINING_DIVERGED":
    case "TRAINING_FAILED":
    case "INTERNAL_ERROR":
      return 500;
    case "BACKEND_UNAVAILABLE":
    case "GPU_UNAVAILABLE":
      return 503;
    case "TIMEOUT":
      return 504;
    default:
      return 500;
  }
}

/** OpenAI-style `type` for a status. */
function typeForStatus(status: number): string {
  if (status === 401) return "authentication_error";
  if (status === 403) return "permission_error";
  if (status === 404) return "not_found_error";
  if (status === 429) return "rate_limit_error";
  if (status === 504) return "timeout_error";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

/**
 * Normalize anything thrown into a `PrefixEdgeError`: unexpected errors become
 * `INTERNAL_ERROR` so that their details stay in the server log.
 *
 * @param err what was thrown
 * @returns a `PrefixEdgeError`
 */
export function toPrefixEdgeError(err: unknown): PrefixEdgeError {
  if (err instanceof PrefixEdgeError) return err;
  return new PrefixEdgeError(
    "INTERNAL_ERROR",
    "Cannot complete the request: the server hit an unexpected error",
    { cause: err },
  );
}

/**
 * The status and JSON body for an error.
 *
 * @param err what was thrown (anything)
 * @param options OpenAI code names and a default `param`
 * @returns `{ status, body }`
 *
 * @example Build an error body
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { PrefixEdgeError } from "../errors/mod.ts";
 * import { errorBody } from "./error_response.ts";
 * const { status, body } = errorBody(new PrefixEdgeError("UNKNOWN_TASK", "Cannot find task 'x': no bundle"));
 * assertEquals([status, body.error.type], [404, "not_found_error"]);
 * ```
 */
export function errorBody(
  err: unknown,
  options: ErrorBodyOptions = {},
): { status: number; body: ErrorBody } {
  const e = toPrefixEdgeError(err);
  const status = statusForCode(e.code);
  const openaiCode = options.openai ? OPENAI_CODES[e.code] : undefined;
  return {
    status,
    body: {
      error: {
        code: openaiCode ?? e.code,
        message: e.message,
        type: typeForStatus(status),
        param: e.param ?? options.param ?? null,
        ...(openaiCode ? { prefix_edge_code: e.code } : {}),
      },
    },
  };
}

/**
 * A JSON `Response` for an error, in the one error shape.
 *
 * @param err what was thrown (anything)
 * @param headers extra headers (e.g. `WWW-Authenticate`, `Retry-After`)
 * @param options OpenAI code names and a default `param`
 * @returns the response
 *
 * @example Answer with an error
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { PrefixEdgeError } from "../errors/mod.ts";
 * import { errorResponse } from "./error_response.ts";
 * const res = errorResponse(new PrefixEdgeError("QUEUE_FULL", "Cannot queue the request: 64 waiting"));
 * assertEquals(res.status, 429);
 * ```
 */
export function errorResponse(
  err: unknown,
  headers: HeadersInit = {},
  options: ErrorBodyOptions = {},
): Response {
  const { status, body } = errorBody(err, options);
  const h = new Headers(headers);
  h.set("content-type", "application/json; charset=utf-8");
  if (status === 401 && !h.has("www-authenticate")) h.set("www-authenticate", "Bearer");
  if (status === 429 && !h.has("retry-after")) h.set("retry-after", "1");
  return new Response(JSON.stringify(body), { status, headers: h });
}
