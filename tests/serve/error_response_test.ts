import { type ErrorCode, PrefixEdgeError } from "../../src/errors/mod.ts";
import { errorBody, errorResponse, statusForCode } from "../../src/serve/mod.ts";
import { assert, assertEquals } from "../_assert.ts";

Deno.test("statusForCode maps each serving code to its HTTP status", () => {
  const expected: [ErrorCode, number][] = [
    ["INVALID_INPUT", 400],
    ["CONTEXT_OVERFLOW", 400],
    ["UNAUTHORIZED", 401],
    ["ADMIN_DISABLED", 403],
    ["UNKNOWN_TASK", 404],
    ["ROUTE_NOT_FOUND", 404],
    ["STORE_READ_ONLY", 405],
    ["PAYLOAD_TOO_LARGE", 413],
    ["BUNDLE_TOO_LARGE", 413],
    ["BUNDLE_CORRUPT", 422],
    ["BASE_MISMATCH", 422],
    ["QUEUE_FULL", 429],
    ["TASK_LOAD_FAILED", 500],
    ["INTERNAL_ERROR", 500],
    ["BACKEND_UNAVAILABLE", 503],
    ["TIMEOUT", 504],
  ];
  for (const [code, status] of expected) assertEquals(statusForCode(code), status, code);
});

Deno.test("errorBody has the OpenAI-compatible shape and hides unexpected errors", () => {
  const known = errorBody(new PrefixEdgeError("QUEUE_FULL", "Cannot queue the request: full"));
  assertEquals(known, {
    status: 429,
    body: {
      error: {
        code: "QUEUE_FULL",
        message: "Cannot queue the request: full",
        type: "rate_limit_error",
        param: null,
      },
    },
  });
  // On the OpenAI routes: OpenAI's code name, ours beside it, and the field at fault.
  const openai = errorBody(
    new PrefixEdgeError("CONTEXT_OVERFLOW", "Cannot generate: too long", { param: "messages" }),
    { openai: true },
  );
  assertEquals(openai.body.error, {
    code: "context_length_exceeded",
    message: "Cannot generate: too long",
    type: "invalid_request_error",
    param: "messages",
    prefix_edge_code: "CONTEXT_OVERFLOW",
  });
  assertEquals(
    errorBody(new PrefixEdgeError("UNKNOWN_TASK", "Cannot find x"), { param: "model" }).body
      .error.code,
    "UNKNOWN_TASK",
  );
  const unknown = errorBody(new TypeError("secret internals at line 3"));
  assertEquals(unknown.status, 500);
  assertEquals(unknown.body.error.code, "INTERNAL_ERROR");
  assert(!unknown.body.error.message.includes("secret"));
});

Deno.test("errorResponse sets JSON content type, WWW-Authenticate on 401 and Retry-After on 429", async () => {
  const r401 = errorResponse(new PrefixEdgeError("UNAUTHORIZED", "Cannot upload: no token"));
  assertEquals(r401.headers.get("www-authenticate"), "Bearer");
  assert(r401.headers.get("content-type")!.startsWith("application/json"));
  assertEquals((await r401.json()).error.type, "authentication_error");
  const r429 = errorResponse(new PrefixEdgeError("QUEUE_FULL", "Cannot queue: full"));
  assertEquals(r429.headers.get("retry-after"), "1");
  await r429.body?.cancel();
});
