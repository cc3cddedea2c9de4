/**
 * The SDK's own data format: one JSON object per line, `{"input": ..., "output": ...}`.
 *
 * @module
 */
import { PrefixEdgeError } from "../../errors/mod.ts";
import type { TextExample } from "./example.ts";
import { readText } from "./_read_text.ts";

/**
 * Parse JSONL text into examples. Blank lines are skipped; every other line
 * must be an object whose `input` and `output` are strings (other keys are
 * ignored).
 *
 * @param text the file's text
 * @param source file name for error messages
 * @returns the examples in file order
 * @throws {PrefixEdgeError} `DATA_INVALID` naming the file and the 1-based line
 *
 * @example Parse two lines
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { parseJsonl } from "./read_jsonl.ts";
 * const ex = parseJsonl('{"input":"2+2","output":"4"}\n{"input":"3+3","output":"6"}\n', "inline");
 * assertEquals(ex.length, 2);
 * ```
 */
export function parseJsonl(text: string, source: string): TextExample[] {
  const out: TextExample[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    const where = `${source} line ${i + 1}`;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (e) {
      throw new PrefixEdgeError(
        "DATA_INVALID",
        `Cannot read ${where}: not valid JSON (${(e as Error).message})`,
        { cause: e },
      );
    }
    if (obj === null || typeof obj !== "object" || Array.isArray(obj)) {
      throw new PrefixEdgeError(
        "DATA_INVALID",
        `Cannot read ${where}: expected an object {"input": string, "output": string}`,
      );
    }
    const { input, output } = obj as Record<string, unknown>;
    for (const [key, value] of [["input", input], ["output", output]] as const) {
      if (typeof value !== "string") {
        throw new PrefixEdgeError(
          "DATA_INVALID",
          `Cannot read ${where}: "${key}" is ${
            value === undefined ? "missing" : `a ${typeof value}`
          }, expected a string`,
        );
      }
    }
    out.push({ input: input as string, output: output as string });
  }
  return out;
}

/**
 * Read a JSONL file of `{input, output}` objects.
 *
 * @param path the file
 * @returns the examples in file order
 * @throws {PrefixEdgeError} `FILE_NOT_FOUND`, or `DATA_INVALID` naming the file and line
 *
 * @example Read the embedded pet-stories dev set
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { readJsonl } from "./read_jsonl.ts";
 * const examples = await readJsonl("data/pet-stories/dev.jsonl");
 * assertEquals(examples.length, 40);
 * assertEquals(examples[0].input, "name: Bob | animal: cat | place: house | thing: flower");
 * ```
 */
export async function readJsonl(path: string): Promise<TextExample[]> {
  return parseJsonl(await readText(path, "JSONL data"), path);
}
