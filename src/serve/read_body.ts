/**
 * Bounded request-body readers. The limit is checked against
 * `Content-Length` first and then while streaming, so a chunked upload that
 * lies about (or omits) its length still cannot push more than the limit into
 * memory.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";

/**
 * Read a request body, refusing more than `maxBytes`.
 *
 * @param req the request
 * @param maxBytes the limit
 * @returns the bytes
 * @throws {PrefixEdgeError} `PAYLOAD_TOO_LARGE`
 *
 * @example Read an upload
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { readBytesBody } from "./read_body.ts";
 * const bytes = await readBytesBody(new Request("http://x/", { method: "PUT", body: "abc" }), 10);
 * assertEquals(bytes.length, 3);
 * ```
 */
export async function readBytesBody(req: Request, maxBytes: number): Promise<Uint8Array> {
  const tooLarge = (n: number | string) =>
    new PrefixEdgeError(
      "PAYLOAD_TOO_LARGE",
      `Cannot read the request body: ${n} bytes is over the limit of ${maxBytes} bytes`,
    );
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) throw tooLarge(declared);
  if (!req.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = req.body.getReader();
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      throw tooLarge(`more than ${maxBytes}`);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/**
 * Read and parse a JSON object body, refusing more than `maxBytes`.
 *
 * @param req the request
 * @param maxBytes the limit
 * @returns the parsed object
 * @throws {PrefixEdgeError} `PAYLOAD_TOO_LARGE`, or `INVALID_INPUT` for
 *   malformed JSON or a body that is not a JSON object
 *
 * @example Parse a request
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { readJsonBody } from "./read_body.ts";
 * const req = new Request("http://x/", { method: "POST", body: '{"prompt":"hi"}' });
 * assertEquals((await readJsonBody(req, 1024)).prompt, "hi");
 * ```
 */
export async function readJsonBody(
  req: Request,
  maxBytes: number,
): Promise<Record<string, unknown>> {
  const bytes = await readBytesBody(req, maxBytes);
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      `Cannot parse the request body: it is not valid JSON (${(e as Error).message})`,
      { cause: e },
    );
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      "Cannot parse the request body: expected a JSON object",
    );
  }
  return parsed as Record<string, unknown>;
}
