/**
 * ROUGE-L as the E2E scorer computes it (`Rouge` in the `pycocoevalcap`
 * bundled with tuetschek/e2e-metrics, after Lin 2004): per input, the longest
 * common subsequence against each reference gives a precision and a recall;
 * the best precision and the best recall (taken separately) make an F-measure
 * with beta = 1.2; the corpus score is the mean over inputs.
 *
 * @module
 */

const BETA = 1.2;

function lcs(a: readonly string[], b: readonly string[]): number {
  const [long, short] = a.length >= b.length ? [a, b] : [b, a];
  let prev = new Array<number>(short.length + 1).fill(0);
  let cur = new Array<number>(short.length + 1).fill(0);
  for (let i = 1; i <= long.length; i++) {
    for (let j = 1; j <= short.length; j++) {
      cur[j] = long[i - 1] === short[j - 1] ? prev[j - 1] + 1 : Math.max(prev[j], cur[j - 1]);
    }
    [prev, cur] = [cur, prev];
  }
  return prev[short.length];
}

/**
 * ROUGE-L of one hypothesis against its references (space-separated token strings).
 *
 * @param hypothesis tokens joined by single spaces
 * @param references the same, one string per reference
 * @returns the F-measure in [0, 1]
 */
export function sentenceRougeL(hypothesis: string, references: readonly string[]): number {
  // split(" ") as the scorer does: an empty string is one empty token.
  const c = hypothesis.split(" ");
  let prec = 0, rec = 0;
  for (const ref of references) {
    const r = ref.split(" ");
    const l = lcs(r, c);
    prec = Math.max(prec, l / c.length);
    rec = Math.max(rec, l / r.length);
  }
  if (prec === 0 || rec === 0) return 0;
  return ((1 + BETA ** 2) * prec * rec) / (rec + BETA ** 2 * prec);
}

/**
 * Corpus ROUGE-L: the mean of {@link sentenceRougeL} over inputs.
 *
 * @param hypotheses `[N]` tokenized strings (tokens joined by spaces)
 * @param references `[N][R_i]` tokenized strings
 * @returns the mean F-measure in [0, 1]
 *
 * @example Identical strings score 1
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { corpusRougeL } from "./rouge_l.ts";
 * assertEquals(corpusRougeL(["a pub near the river"], [["a pub near the river"]]), 1);
 * ```
 */
export function corpusRougeL(
  hypotheses: readonly string[],
  references: readonly (readonly string[])[],
): number {
  if (hypotheses.length === 0) return 0;
  let sum = 0;
  hypotheses.forEach((h, i) => (sum += sentenceRougeL(h, references[i])));
  return sum / hypotheses.length;
}
