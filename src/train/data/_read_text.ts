/**
 * Read a data file as UTF-8 text with the SDK's error for a missing file.
 *
 * @module
 */
import { PrefixEdgeError } from "../../errors/mod.ts";

/**
 * @param path file to read
 * @param what what the file is, for the message ("training data")
 * @returns the file's text
 * @throws {PrefixEdgeError} `FILE_NOT_FOUND` when the file does not exist
 */
export async function readText(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new PrefixEdgeError("FILE_NOT_FOUND", `Cannot read ${what}: ${path} does not exist`, {
        cause: e,
      });
    }
    if (e instanceof Deno.errors.IsADirectory) {
      throw new PrefixEdgeError("FILE_NOT_FOUND", `Cannot read ${what}: ${path} is a folder`, {
        cause: e,
      });
    }
    throw e;
  }
}
