/**
 * Read an admin token from a file: `serve --token-file` and `train --publish-token-file`.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";

/**
 * Read a bearer token from a file (trimmed; at least 16 characters), warning when other users
 * can read the file.
 *
 * @param path the file
 * @param flag the flag that named it, for messages
 * @returns the token
 * @throws {PrefixEdgeError} `FILE_NOT_FOUND` when the file cannot be read, `INVALID_INPUT` for a
 *   short token
 */
export async function readTokenFile(path: string, flag: string): Promise<string> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? "no such file"
      : e instanceof Deno.errors.IsADirectory
      ? "it is a folder"
      : e instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : (e as Error).message;
    throw new PrefixEdgeError("FILE_NOT_FOUND", `Cannot read ${flag} ${path}: ${why}`, {
      cause: e,
    });
  }
  const token = text.trim();
  if (token.length < 16) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      `Cannot use ${flag} ${path}: the token has ${token.length} characters; use at least 16`,
    );
  }
  const mode = (await Deno.stat(path)).mode;
  if (mode !== null && (mode & 0o077) !== 0) {
    console.error(`warning: ${path} is readable by other users (chmod 600 it)`);
  }
  return token;
}
