/**
 * The tokenizer of the E2E scorer's Python mode (`metrics/pymteval.py` in
 * tuetschek/e2e-metrics), which mimics mteval-v13a's basic tokenization:
 * split off punctuation and symbols, split `.` and `,` unless between digits,
 * split a dash after a digit. Lowercasing happens in the scorers
 * (case-insensitive matching), not here.
 *
 * @module
 */

/**
 * Tokenize a sentence the way mteval-v13a (and the scorer's Python port) does.
 *
 * @param sentence raw text
 * @returns the tokens; an empty sentence gives `[""]`, as in the scorer
 *   (Python's `"".split(" ")`), so it counts as one token
 *
 * @example Punctuation splits off, decimals stay
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { mtevalTokenize } from "./mteval_tokenize.ts";
 * assertEquals(mtevalTokenize("It costs £20.50, near (the) river."), [
 *   "It", "costs", "£20.50", ",", "near", "(", "the", ")", "river", ".",
 * ]);
 * // ["It", "costs", "£20.50", ",", "near", "(", "the", ")", "river", "."]
 * ```
 */
export function mtevalTokenize(sentence: string): string[] {
  let s = sentence
    .replace(/<skipped>/g, "")
    .replace(/-\n/g, "")
    .replace(/\n/g, " ")
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, "&")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">");
  s = ` ${s} `;
  // Symbols: { | } ~ [ \ ] ^ _ ` space ! " # $ % & ( ) * + : ; < = > ? @ /
  s = s.replace(/([{-~[-` -&(-+:-@/])/g, " $1 ");
  s = s.replace(/([^0-9])([.,])/g, "$1 $2 ");
  s = s.replace(/([.,])([^0-9])/g, " $1 $2");
  s = s.replace(/([0-9])(-)/g, "$1 $2 ");
  s = s.replace(/\s+/g, " ").trim();
  return s.split(" ");
}
