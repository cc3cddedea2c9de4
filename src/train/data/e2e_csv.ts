/**
 * Adapter for the E2E NLG Challenge CSV (`mr,ref`; Novikova, Dušek & Rieser
 * 2017). The meaning representation is linearized the way Li & Liang's
 * prefix-tuning data files write it, so results compare with theirs:
 *
 * `name[The Vaults], eatType[pub], priceRange[more than £30]`
 * becomes `name : The Vaults | Type : pub | price : more than £ 30`.
 *
 * Keys are renamed (`eatType` -> `Type`, `priceRange` -> `price`,
 * `familyFriendly` -> `family friendly`) and values are split around
 * punctuation, as their files show (checked against all 4,672 rows of their
 * `src1_valid.txt`). The reference (`ref`) is kept as written, with runs of
 * whitespace collapsed: their files also split its punctuation, but a model
 * should learn to write normal text.
 *
 * @module
 */
import { PrefixEdgeError } from "../../errors/mod.ts";
import type { TextExample } from "./example.ts";
import { parseCsv } from "./_delimited.ts";
import { readText } from "./_read_text.ts";

const KEY_NAMES: Record<string, string> = {
  eatType: "Type",
  priceRange: "price",
  familyFriendly: "family friendly",
};

/** Put spaces around every character that is neither a letter, a digit nor a space. */
function splitPunctuation(s: string): string {
  return s.replace(/([^\p{L}\p{N}\s])/gu, " $1 ").replace(/\s+/g, " ").trim();
}

/**
 * Linearize one E2E meaning representation.
 *
 * @param mr e.g. `name[Alimentum], area[city centre], familyFriendly[no]`
 * @returns e.g. `name : Alimentum | area : city centre | family friendly : no`
 * @throws {PrefixEdgeError} `DATA_INVALID` if `mr` is not `key[value], ...`
 *
 * @example Linearize a meaning representation
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { linearizeE2eMr } from "./e2e_csv.ts";
 * assertEquals(
 *   linearizeE2eMr("name[The Vaults], priceRange[more than £30]"),
 *   "name : The Vaults | price : more than £ 30",
 * );
 * // "name : The Vaults | price : more than £ 30"
 * ```
 */
export function linearizeE2eMr(mr: string): string {
  const parts: string[] = [];
  const re = /\s*([^[\],]+?)\s*\[([^\]]*)\]\s*(,|$)/y;
  let pos = 0;
  while (pos < mr.length) {
    re.lastIndex = pos;
    const m = re.exec(mr);
    if (!m) {
      throw new PrefixEdgeError(
        "DATA_INVALID",
        `Cannot parse E2E meaning representation "${mr}": expected key[value] at offset ${pos}`,
      );
    }
    const key = KEY_NAMES[m[1]] ?? m[1];
    parts.push(`${key} : ${splitPunctuation(m[2])}`);
    pos = re.lastIndex;
  }
  if (parts.length === 0) {
    throw new PrefixEdgeError(
      "DATA_INVALID",
      `Cannot parse E2E meaning representation: it is empty`,
    );
  }
  return parts.join(" | ");
}

/**
 * Parse E2E CSV text (`mr,ref` header; `MR`-only test files are refused).
 *
 * @param text the CSV's text
 * @param source file name for error messages
 * @returns one example per row: `input` = linearized MR, `output` = the reference
 * @throws {PrefixEdgeError} `DATA_INVALID` naming the file and line
 *
 * @example Parse a two-row CSV
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { parseE2eCsv } from "./e2e_csv.ts";
 * const ex = parseE2eCsv('mr,ref\n"name[Aromi], area[riverside]",Aromi is by the river.\n', "inline");
 * assertEquals(ex[0].input, "name : Aromi | area : riverside");
 * ```
 */
export function parseE2eCsv(text: string, source: string): TextExample[] {
  const { rows, unterminated } = parseCsv(text);
  if (unterminated !== undefined) {
    throw new PrefixEdgeError(
      "DATA_INVALID",
      `Cannot read ${source} line ${unterminated}: a quoted field is never closed`,
    );
  }
  if (rows.length === 0) return [];
  const header = rows[0].fields.map((f) => f.trim().toLowerCase());
  const mrCol = header.indexOf("mr"), refCol = header.indexOf("ref");
  if (mrCol < 0 || refCol < 0) {
    throw new PrefixEdgeError(
      "DATA_INVALID",
      `Cannot read ${source} line 1: expected an E2E header with columns mr,ref, got ${
        rows[0].fields.join(",")
      }`,
    );
  }
  const out: TextExample[] = [];
  for (const row of rows.slice(1)) {
    if (row.fields.length !== header.length) {
      throw new PrefixEdgeError(
        "DATA_INVALID",
        `Cannot read ${source} line ${row.line}: ${row.fields.length} fields, the header has ${header.length}`,
      );
    }
    let input: string;
    try {
      input = linearizeE2eMr(row.fields[mrCol]);
    } catch (e) {
      throw new PrefixEdgeError(
        "DATA_INVALID",
        `Cannot read ${source} line ${row.line}: ${(e as Error).message}`,
        { cause: e },
      );
    }
    // Collapse runs of spaces (some references hold "rating.  Prices").
    out.push({ input, output: row.fields[refCol].replace(/\s+/g, " ").trim() });
  }
  return out;
}

/**
 * Read an E2E CSV file (`trainset.csv`, `devset.csv`, `testset_w_refs.csv`).
 *
 * @param path the file
 * @returns one example per row
 * @throws {PrefixEdgeError} `FILE_NOT_FOUND`, or `DATA_INVALID` naming the file and line
 *
 * @example Read the embedded subset
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { readE2eCsv } from "./e2e_csv.ts";
 * const train = await readE2eCsv("data/e2e-small/train.csv");
 * assertEquals(train.length, 300);
 * assertEquals(
 *   train[0].input,
 *   "name : The Vaults | Type : pub | price : more than £ 30 | customer rating : 5 out of 5 | near : Café Adriatic",
 * );
 * ```
 */
export async function readE2eCsv(path: string): Promise<TextExample[]> {
  return parseE2eCsv(await readText(path, "E2E data"), path);
}
