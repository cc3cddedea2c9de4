/**
 * Bearer-token check for the routes that change tasks (PUT and DELETE).
 * Without a configured token those routes are off.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";

/**
 * Compare two strings in time that depends only on their lengths' maximum,
 * not on where they first differ, so the token cannot be guessed byte by byte.
 */
function timingSafeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a), y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  const n = Math.max(x.length, y.length);
  for (let i = 0; i < n; i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/**
 * Check the request's `Authorization: Bearer <token>` header.
 *
 * @param req the request
 * @param token the configured admin token, or `null`/`undefined` when none is set
 * @param action what the caller tries, for the message ("upload task 'x'")
 * @throws {PrefixEdgeError} `ADMIN_DISABLED` when no token is configured,
 *   `UNAUTHORIZED` for a missing or wrong token
 *
 * @example Guard a route
 * ```ts
 * import { throws } from "node:assert";
 * import { checkBearer } from "./admin_auth.ts";
 * const req = new Request("http://x/", { headers: { authorization: "Bearer s3cret" } });
 * checkBearer(req, "s3cret", "upload task 'demo'"); // the right token passes
 * throws(() => checkBearer(req, "other", "upload task 'demo'"), { code: "UNAUTHORIZED" });
 * ```
 */
export function checkBearer(req: Request, token: string | null | undefined, action: string): void {
  if (!token) {
    throw new PrefixEdgeError(
      "ADMIN_DISABLED",
      `Cannot ${action}: uploads and deletes are off because the server has no admin token (start it with --token-file)`,
    );
  }
  const header = req.headers.get("authorization") ?? "";
  const m = /^Bearer\s+(.+)$/i.exec(header);
  if (!m) {
    throw new PrefixEdgeError("UNAUTHORIZED", `Cannot ${action}: no bearer token in Authorization`);
  }
  if (!timingSafeEqual(m[1].trim(), token)) {
    throw new PrefixEdgeError("UNAUTHORIZED", `Cannot ${action}: the bearer token is wrong`);
  }
}
