/**
 * Adapters for the GLUE TSVs: each classification row becomes text in, a
 * verbalizer word out, so a prefix learns classification as generation.
 *
 * | task | input | output |
 * | --- | --- | --- |
 * | `sst2` | `sentence: <s> sentiment:` | `positive` (1) / `negative` (0) |
 * | `cola` | `sentence: <s> grammatical:` | `yes` (1) / `no` (0) |
 * | `mrpc` | `sentence1: <a> sentence2: <b> paraphrase:` | `yes` (1) / `no` (0) |
 * | `rte` | `premise: <a> hypothesis: <b> entailment:` | `yes` / `no` (`not_entailment`) |
 * | `qnli` | `question: <q> sentence: <s> entailment:` | `yes` / `no` (`not_entailment`) |
 * | `stsb` | `sentence1: <a> sentence2: <b> similarity:` | the score with one decimal, e.g. `3.8` |
 *
 * The input already ends in a cue (`sentiment:`), so GLUE data uses an empty
 * separator; the tokenizer puts one space before the output word.
 *
 * @module
 */
import { basename, dirname } from "pathe";
import { PrefixEdgeError } from "../../errors/mod.ts";
import type { TextExample } from "./example.ts";
import { type DelimitedRow, parseTsv } from "./_delimited.ts";
import { readText } from "./_read_text.ts";

/** The GLUE tasks with an adapter. */
export type GlueTask = "sst2" | "cola" | "mrpc" | "rte" | "qnli" | "stsb";

/** All GLUE task names, in the order the docs list them. */
export const GLUE_TASKS: readonly GlueTask[] = ["sst2", "cola", "mrpc", "rte", "qnli", "stsb"];

/** Label value in the TSV -> output word, per classification task. */
export const GLUE_VERBALIZERS: Readonly<Record<Exclude<GlueTask, "stsb">, Record<string, string>>> =
  {
    sst2: { "1": "positive", "0": "negative" },
    cola: { "1": "yes", "0": "no" },
    mrpc: { "1": "yes", "0": "no" },
    rte: { entailment: "yes", not_entailment: "no" },
    qnli: { entailment: "yes", not_entailment: "no" },
  };

interface Layout {
  /** Whether the first row is a header. */
  header: boolean;
  /** Fewest columns a row must have. */
  columns: number;
  /** Build the input text from a row's fields. */
  input(f: string[]): string;
  /** The raw label field. */
  label(f: string[]): string;
}

const LAYOUTS: Record<GlueTask, Layout> = {
  // sentence<TAB>label
  sst2: {
    header: true,
    columns: 2,
    input: (f) => `sentence: ${f[0].trim()} sentiment:`,
    label: (f) => f[1],
  },
  // source<TAB>label<TAB>original_label<TAB>sentence (no header)
  cola: {
    header: false,
    columns: 4,
    input: (f) => `sentence: ${f[3].trim()} grammatical:`,
    label: (f) => f[1],
  },
  // Quality<TAB>#1 ID<TAB>#2 ID<TAB>#1 String<TAB>#2 String
  mrpc: {
    header: true,
    columns: 5,
    input: (f) => `sentence1: ${f[3].trim()} sentence2: ${f[4].trim()} paraphrase:`,
    label: (f) => f[0],
  },
  // index<TAB>sentence1<TAB>sentence2<TAB>label
  rte: {
    header: true,
    columns: 4,
    input: (f) => `premise: ${f[1].trim()} hypothesis: ${f[2].trim()} entailment:`,
    label: (f) => f[3],
  },
  // index<TAB>question<TAB>sentence<TAB>label
  qnli: {
    header: true,
    columns: 4,
    input: (f) => `question: ${f[1].trim()} sentence: ${f[2].trim()} entailment:`,
    label: (f) => f[3],
  },
  // index genre filename year old_index source1 source2 sentence1 sentence2 score
  stsb: {
    header: true,
    columns: 10,
    input: (f) => `sentence1: ${f[7].trim()} sentence2: ${f[8].trim()} similarity:`,
    label: (f) => f[9],
  },
};

/**
 * Guess the GLUE task from the folder a TSV sits in (`.../SST-2/dev.tsv` -> `sst2`).
 *
 * @param path a TSV path
 * @returns the task, or `undefined` when the folder name is not a GLUE task
 *
 * @example Guess from a path
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { glueTaskFromPath } from "./glue_tsv.ts";
 * assertEquals(glueTaskFromPath("../shared/data/glue/SST-2/dev.tsv"), "sst2");
 * ```
 */
export function glueTaskFromPath(path: string): GlueTask | undefined {
  const name = basename(dirname(path)).toLowerCase().replace(/[^a-z0-9]/g, "");
  return (GLUE_TASKS as readonly string[]).includes(name) ? name as GlueTask : undefined;
}

function verbalize(task: GlueTask, raw: string, where: string): string {
  const label = raw.trim();
  if (task === "stsb") {
    const score = Number(label);
    if (label === "" || !Number.isFinite(score)) {
      throw new PrefixEdgeError(
        "DATA_INVALID",
        `Cannot read ${where}: STS-B score "${label}" is not a number`,
      );
    }
    return score.toFixed(1);
  }
  const word = GLUE_VERBALIZERS[task][label];
  if (word === undefined) {
    throw new PrefixEdgeError(
      "DATA_INVALID",
      `Cannot read ${where}: label "${label}" is not one of ${
        Object.keys(GLUE_VERBALIZERS[task]).join(", ")
      } for ${task} (is this an unlabeled test file?)`,
    );
  }
  return word;
}

/**
 * Parse a GLUE TSV into verbalized examples.
 *
 * @param text the TSV's text
 * @param task which GLUE task's layout and verbalizer to use
 * @param source file name for error messages
 * @returns one example per data row
 * @throws {PrefixEdgeError} `DATA_INVALID` naming the file and line
 *
 * @example Parse SST-2 rows
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { parseGlueTsv } from "./glue_tsv.ts";
 * const ex = parseGlueTsv("sentence\tlabel\na charming journey\t1\n", "sst2", "inline");
 * assertEquals(ex[0], { input: "sentence: a charming journey sentiment:", output: "positive" });
 * ```
 */
export function parseGlueTsv(text: string, task: GlueTask, source: string): TextExample[] {
  const layout = LAYOUTS[task];
  const rows: DelimitedRow[] = parseTsv(text);
  const data = layout.header ? rows.slice(1) : rows;
  return data.map((row) => {
    const where = `${source} line ${row.line}`;
    if (row.fields.length < layout.columns) {
      throw new PrefixEdgeError(
        "DATA_INVALID",
        `Cannot read ${where}: ${row.fields.length} tab-separated fields, ${task} needs ${layout.columns}`,
      );
    }
    return {
      input: layout.input(row.fields),
      output: verbalize(task, layout.label(row.fields), where),
    };
  });
}

/**
 * Read a GLUE TSV (`train.tsv`, `dev.tsv`; unlabeled test files are refused).
 *
 * @param path the file
 * @param task the task; guessed from the folder name (`SST-2` -> `sst2`) when omitted
 * @returns one example per data row
 * @throws {PrefixEdgeError} `FILE_NOT_FOUND`, `DATA_INVALID` (also when the task cannot be guessed)
 *
 * @example Read the embedded SST-2 slice's dev set
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { readGlueTsv } from "./glue_tsv.ts";
 * const dev = await readGlueTsv("data/SST-2/dev.tsv"); // the folder name says sst2
 * assertEquals(dev.length, 200);
 * assertEquals(dev[0], {
 *   input: "sentence: it 's a charming and often affecting journey . sentiment:",
 *   output: "positive",
 * });
 * ```
 */
export async function readGlueTsv(path: string, task?: GlueTask): Promise<TextExample[]> {
  const t = task ?? glueTaskFromPath(path);
  if (!t) {
    throw new PrefixEdgeError(
      "DATA_INVALID",
      `Cannot read ${path} as GLUE: its folder is not a GLUE task name; pass the task (${
        GLUE_TASKS.join(", ")
      })`,
    );
  }
  return parseGlueTsv(await readText(path, "GLUE data"), t, path);
}
