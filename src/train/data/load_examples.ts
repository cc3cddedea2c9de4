/**
 * Pick the adapter for a data file and say how its prompts are joined.
 *
 * @module
 */
import { extname } from "node:path";
import { PrefixEdgeError } from "../../errors/mod.ts";
import type { TextExample } from "./example.ts";
import { readE2eCsv } from "./e2e_csv.ts";
import { GLUE_TASKS, type GlueTask, glueTaskFromPath, readGlueTsv } from "./glue_tsv.ts";
import { readJsonl } from "./read_jsonl.ts";

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
 * import { separatorFor } from "./load_examples.ts";
 * console.log(JSON.stringify(separatorFor("e2e")), JSON.stringify(separatorFor("sst2"))); // " ||" ""
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
 * import { guessDataFormat } from "./load_examples.ts";
 * console.log(guessDataFormat("train.jsonl"), guessDataFormat("glue/RTE/dev.tsv")); // jsonl rte
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
 * ```ts ignore
 * const { examples, separator } = await loadExamples("data/e2e-small/train.csv");
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
  return { path, format: f, separator: separatorFor(f), examples };
}
