/**
 * Task names: the one rule for the bundle writer (a trained task becomes `<task>.prefix.zip`) and
 * the server (the only user input that reaches a store path or URL), so no name can be written
 * that a server refuses, and none can express a path trick.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";

/**
 * Lowercase letters, digits, `.`, `_` and `-`, 1 to 64 characters, starting
 * with a letter or digit. `..` is refused on top of the pattern.
 */
export const TASK_NAME_PATTERN: RegExp = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/**
 * Check a task name.
 *
 * @param name the name (from a URL, a request body, or a training run)
 * @returns the name, unchanged
 * @throws {PrefixEdgeError} `INVALID_INPUT` when it does not match
 *   {@link TASK_NAME_PATTERN} or contains `..`
 *
 * @example Accept and refuse names
 * ```ts
 * import { deepStrictEqual as assertEquals, throws } from "node:assert";
 * import { validateTaskName } from "./task_name.ts";
 * assertEquals(validateTaskName("sentiment-v2"), "sentiment-v2");
 * throws(() => validateTaskName("../etc"), { code: "INVALID_INPUT" });
 * ```
 */
export function validateTaskName(name: unknown): string {
  if (typeof name !== "string" || !TASK_NAME_PATTERN.test(name) || name.includes("..")) {
    const shown = typeof name === "string" ? JSON.stringify(name.slice(0, 80)) : typeof name;
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      `Cannot use task name ${shown}: it names the bundle file <task>.prefix.zip, so it must match ${TASK_NAME_PATTERN.source} and contain no '..'`,
    );
  }
  return name;
}
