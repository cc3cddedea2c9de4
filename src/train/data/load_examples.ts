/**
 * Pick the adapter for a data file and say how its prompts are joined.
 *
 * @module
 */
import { dirname, extname, join } from "pathe";
import { PrefixEdgeError } from "../../errors/mod.ts";
import { parseSlotValues, type SlotValues } from "../../eval/mod.ts";
import type { TextExample } from "./example.ts";
import { parseE2eCsv, readE2eCsv } from "./e2e_csv.ts";
import {
  GLUE_TASKS,
  type GlueTask,
  glueTaskFromPath,
  parseGlueTsv,
  readGlueTsv,
} from "./glue_tsv.ts";
import { parseJsonl, readJsonl } from "./read_jsonl.ts";
import { readText } from "./_read_text.ts";

/** A data format: the SDK's JSONL, the E2E CSV, or one GLUE task's TSV. */
export type DataFormat = "jsonl" | "e2e" | GlueTask;

/** Every accepted format name. */
export const DATA_FORMATS: readonly DataFormat[] = ["jsonl", "e2e", ...GLUE_TASKS];

/**
 * The text put between input and output. Li & Liang write `input || output`;
 * GLUE inputs already end in a cue word (`sentiment:`), so they use none.
 *
 * @param format the data format
 * @returns `" ||"` for `jsonl` and `e2e`, `""` for GLUE tasks
 *
 * @example Separators
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { separatorFor } from "./load_examples.ts";
 * assertEquals([separatorFor("e2e"), separatorFor("sst2")], [" ||", ""]);
 * ```
 */
export function separatorFor(format: DataFormat): string {
  return format === "jsonl" || format === "e2e" ? " ||" : "";
}

/** Examples read from one file, with the format that read them. */
export interface LoadedExamples {
  /** The file read. */
  path: string;
  /** The adapter used. */
  format: DataFormat;
  /** Text between input and output when tokenizing ({@link separatorFor}). */
  separator: string;
  /** The examples in file order. */
  examples: TextExample[];
  /**
   * The values each slot of the records can take, from a `slots.json` beside the file, when
   * there is one: generations are then also scored by whether they name their record's values
   * exactly (`slotMetrics`).
   */
  slots?: SlotValues;
}

/**
 * Examples from a data file's text, without a file system (a page fetched or was given it).
 *
 * @param text the file's content
 * @param name how messages name it; its extension picks the format when `format` is absent
 * @param options the format, and the text of the `slots.json` that lists the records' slot values
 * @returns the examples, as {@link loadExamples} returns them
 * @throws {PrefixEdgeError} `DATA_INVALID` naming the line, or a malformed `slots.json`
 *
 * @example Two records of the main job's task
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { parseExamples } from "./load_examples.ts";
 * const text = await Deno.readTextFile("data/pet-stories/dev.jsonl");
 * const slots = await Deno.readTextFile("data/pet-stories/slots.json");
 * const { format, examples, separator, slots: values } = parseExamples(text, "dev.jsonl", { slots });
 * assertEquals([format, examples.length > 2, separator], ["jsonl", true, " ||"]);
 * assertEquals(values?.animal.includes("cat"), true);
 * ```
 */
export function parseExamples(
  text: string,
  name: string,
  options: { format?: DataFormat; slots?: string } = {},
): LoadedExamples {
  const f = options.format ?? guessDataFormat(name);
  const examples = f === "jsonl"
    ? parseJsonl(text, name)
    : f === "e2e"
    ? parseE2eCsv(text, name)
    : parseGlueTsv(text, f, name);
  let slots: SlotValues | undefined;
  if (options.slots !== undefined) {
    const where = `${
      name.includes("/") ? name.slice(0, name.lastIndexOf("/") + 1) : ""
    }${SLOTS_FILE}`;
    let raw: unknown;
    try {
      raw = JSON.parse(options.slots);
    } catch (e) {
      throw new PrefixEdgeError("DATA_INVALID", `Cannot read ${where}: ${(e as Error).message}`, {
        cause: e,
      });
    }
    slots = parseSlotValues(raw, where);
  }
  return {
    path: name,
    format: f,
    separator: separatorFor(f),
    examples,
    ...(slots ? { slots } : {}),
  };
}

/** The file beside a data file that lists its records' slot values. */
export const SLOTS_FILE = "slots.json";

/** Read `slots.json` beside a data file, if there is one. */
async function readSlotsBeside(path: string): Promise<SlotValues | undefined> {
  const file = join(dirname(path), SLOTS_FILE);
  if (!(await Deno.stat(file).then((s) => s.isFile, () => false))) return undefined;
  return await readSlotValues(file);
}

/**
 * Read a `slots.json`: the values each slot of a task's records can take.
 *
 * @param file the file
 * @returns the slot values
 * @throws {PrefixEdgeError} `FILE_NOT_FOUND`, `DATA_INVALID`
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert";
 * import { readSlotValues } from "./load_examples.ts";
 * const slots = await readSlotValues("data/pet-stories/slots.json");
 * deepStrictEqual(slots.place, ["park", "garden", "forest", "house", "pond", "yard"]);
 * ```
 */
export async function readSlotValues(file: string): Promise<SlotValues> {
  const text = await readText(file, "slot values");
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new PrefixEdgeError(
      "DATA_INVALID",
      `Cannot read the slot values in ${file}: not valid JSON (${(e as Error).message})`,
      { cause: e },
    );
  }
  return parseSlotValues(raw, file);
}

/**
 * Guess a file's format: `.jsonl`/`.json` -> `jsonl`, `.csv` -> `e2e`,
 * `.tsv` -> the GLUE task named by its folder.
 *
 * @param path a data file
 * @returns the format
 * @throws {PrefixEdgeError} `DATA_INVALID` when the extension or folder says nothing
 *
 * @example Guess formats
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { guessDataFormat } from "./load_examples.ts";
 * assertEquals([guessDataFormat("train.jsonl"), guessDataFormat("glue/RTE/dev.tsv")], ["jsonl", "rte"]);
 * ```
 */
export function guessDataFormat(path: string): DataFormat {
  const ext = extname(path).toLowerCase();
  if (ext === ".jsonl" || ext === ".json") return "jsonl";
  if (ext === ".csv") return "e2e";
  if (ext === ".tsv") {
    const task = glueTaskFromPath(path);
    if (task) return task;
    throw new PrefixEdgeError(
      "DATA_INVALID",
      `Cannot tell which GLUE task ${path} holds: its folder is not a task name; pass a format (${
        GLUE_TASKS.join(", ")
      })`,
    );
  }
  throw new PrefixEdgeError(
    "DATA_INVALID",
    `Cannot tell the format of ${path}: expected .jsonl, .csv (E2E) or .tsv (GLUE), or pass a format (${
      DATA_FORMATS.join(", ")
    })`,
  );
}

/**
 * Read a data file with the adapter for its format.
 *
 * @param path the file
 * @param format the format; guessed from the path when omitted
 * @returns the examples, the format and the separator to tokenize with
 * @throws {PrefixEdgeError} `FILE_NOT_FOUND` (no such file, or a folder),
 *   `DATA_INVALID`
 *
 * @example Read the embedded E2E subset
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { loadExamples } from "./load_examples.ts";
 * const { format, examples, separator } = await loadExamples("data/e2e-small/train.csv");
 * assertEquals([format, examples.length, separator], ["e2e", 300, " ||"]);
 * ```
 */
export async function loadExamples(path: string, format?: DataFormat): Promise<LoadedExamples> {
  if (format !== undefined && !DATA_FORMATS.includes(format)) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      `Cannot read ${path}: unknown format "${format}" (expected ${DATA_FORMATS.join(", ")})`,
    );
  }
  const stat = await Deno.stat(path).catch(() => null);
  if (stat?.isDirectory) {
    throw new PrefixEdgeError(
      "FILE_NOT_FOUND",
      `Cannot read data from ${path}: it is a folder; pass a data file (.jsonl, E2E .csv or GLUE .tsv)`,
    );
  }
  const f = format ?? guessDataFormat(path);
  const examples = f === "jsonl"
    ? await readJsonl(path)
    : f === "e2e"
    ? await readE2eCsv(path)
    : await readGlueTsv(path, f);
  const slots = f === "jsonl" || f === "e2e" ? await readSlotsBeside(path) : undefined;
  return { path, format: f, separator: separatorFor(f), examples, ...(slots ? { slots } : {}) };
}
