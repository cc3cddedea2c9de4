/**
 * The tokenization the E2E scorer applies before ROUGE-L and CIDEr: Stanford
 * CoreNLP 3.4.1's PTBTokenizer with `-preserveLines -lowerCase`, then the
 * scorer drops the punctuation tokens `'' ' `` ` . ? ! , : - -- ... ;`
 * (its list also names `-LRB-` etc. in upper case, which never match the
 * lowercased `-lrb-`, so brackets stay as `-lrb-`/`-rrb-`).
 *
 * This is a TypeScript approximation of that Java lexer for English
 * sentences, not a port: `£` becomes `#`, clitics split (`is n't`, `'s`,
 * `'re`), hyphenated words and numbers (`20-25`, `4.5`, `1,000`) stay whole,
 * quotes and sentence punctuation are split off and dropped. It reproduces
 * the scorer's tokens on the E2E references of the reference set (tested);
 * unusual text may tokenize differently, which moves ROUGE-L and CIDEr
 * slightly.
 *
 * @module
 */

const DROPPED = new Set(["''", "'", "``", "`", ".", "?", "!", ",", ":", "-", "--", "...", ";"]);
const BRACKETS: Record<string, string> = {
  "(": "-lrb-",
  ")": "-rrb-",
  "[": "-lsb-",
  "]": "-rsb-",
  "{": "-lcb-",
  "}": "-rcb-",
};
// Characters split off a word's edges.
const EDGE = /^[.,;:!?"'`…-]$/;
const BRACKET_TOKENS = new Set(Object.values(BRACKETS));

function splitChunk(chunk: string, out: string[]): void {
  if (BRACKET_TOKENS.has(chunk)) {
    out.push(chunk);
    return;
  }
  const tail: string[] = [];
  let w = chunk;
  // A leading dash before a digit is a sign (-25), not punctuation.
  while (w.length > 0 && EDGE.test(w[0]) && !/^-\d/.test(w)) {
    if (w.startsWith("...")) {
      out.push("...");
      w = w.slice(3);
    } else {
      out.push(w[0]);
      w = w.slice(1);
    }
  }
  while (w.length > 0 && EDGE.test(w[w.length - 1])) {
    tail.unshift(w[w.length - 1]);
    w = w.slice(0, -1);
  }
  if (w.length > 0) {
    // Clitics: "isn't" -> "is n't"; "there's" -> "there 's".
    const m = /^(.+?)(n't|'s|'re|'ll|'ve|'d|'m)$/i.exec(w);
    const parts = m ? [m[1], m[2]] : [w];
    for (const p of parts) {
      // Punctuation inside a word splits it unless it sits between digits (4.5, 1,000).
      for (const piece of p.split(/((?<!\d)[,;!?"]|[,;!?"](?!\d)|(?<!\d)\.(?!\d))/)) {
        if (piece) out.push(piece);
      }
    }
  }
  out.push(...tail);
}

/**
 * Tokenize and filter one sentence as the scorer does before ROUGE-L and CIDEr.
 *
 * @param sentence raw text
 * @returns lowercased tokens with the punctuation dropped
 *
 * @example Clitics, currency and brackets
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { ptbTokenize } from "./ptb_tokenize.ts";
 * assertEquals(
 *   ptbTokenize("It isn't cheap (£20-25), the Vaults' pub.").join(" "),
 *   "it is n't cheap -lrb- # 20-25 -rrb- the vaults pub",
 * );
 * // "it is n't cheap -lrb- # 20-25 -rrb- the vaults pub"
 * ```
 */
export function ptbTokenize(sentence: string): string[] {
  const spaced = sentence
    .replace(/£/g, " # ")
    .replace(/[()[\]{}]/g, (c) => ` ${BRACKETS[c]} `)
    .replace(/[“”]/g, ' " ')
    .replace(/[‘’]/g, "'");
  const tokens: string[] = [];
  for (const chunk of spaced.split(/\s+/)) if (chunk) splitChunk(chunk, tokens);
  return tokens.map((t) => t.toLowerCase()).filter((t) => !DROPPED.has(t) && t !== '"');
}
