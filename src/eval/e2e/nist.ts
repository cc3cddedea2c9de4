/**
 * Corpus NIST-5 as the E2E scorer's Python mode computes it (`NISTScore` in
 * tuetschek/e2e-metrics `metrics/pymteval.py`, after Doddington 2002 and
 * mteval-v13a): each matched n-gram earns its information weight
 * `log2(count(w1..w(n-1)) / count(w1..wn))`, counted over all references of
 * the corpus; the sums per order are divided by the hypotheses' n-gram
 * counts; a length penalty `exp(-beta * ln(ratio)^2)` uses the mean reference
 * length per input. With several references per input this differs from the
 * Perl mteval (the scorer says so), and we follow the Python mode.
 *
 * Where the scorer divides by zero (every hypothesis shorter than n tokens)
 * and crashes, that order contributes 0 here.
 *
 * @module
 */
import { ngramCounts, SEP } from "./_ngrams.ts";
import { maxNgramCounts } from "./_ngrams.ts";

const BETA = -Math.log(0.5) / Math.log(1.5) ** 2;

/**
 * Corpus NIST over tokenized, lowercased sentences.
 *
 * @param hypotheses `[N]` token lists
 * @param references `[N][R_i]` token lists (at least one per input)
 * @param maxN highest n-gram order (default 5)
 * @returns the NIST score (not bounded; about 13 for a perfect E2E output)
 *
 * @example An exact copy scores above zero
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { corpusNist } from "./nist.ts";
 * const s = ["a", "pub", "near", "the", "river"];
 * assertEquals(corpusNist([s], [[s, ["a", "river", "pub"]]]) > 0, true);
 * ```
 */
export function corpusNist(
  hypotheses: readonly (readonly string[])[],
  references: readonly (readonly (readonly string[])[])[],
  maxN = 5,
): number {
  // refCounts[n]: n-gram counts over all references; [0] holds the total word count.
  const refCounts = Array.from({ length: maxN + 1 }, () => new Map<string, number>());
  const hitSets: Map<string, number>[][] = Array.from({ length: maxN }, () => []);
  const candLens = new Array<number>(maxN).fill(0);
  let avgRefLen = 0, refWords = 0;
  hypotheses.forEach((hyp, i) => {
    const refs = references[i];
    for (let n = 1; n <= maxN; n++) {
      candLens[n - 1] += hyp.length - (n - 1);
      const ceiling = maxNgramCounts(refs, n);
      const hits = new Map<string, number>();
      for (const [k, c] of ngramCounts(hyp, n)) {
        const h = Math.min(c, ceiling.get(k) ?? 0);
        if (h) hits.set(k, h);
      }
      hitSets[n - 1].push(hits);
      for (const r of refs) {
        for (const [k, c] of ngramCounts(r, n)) {
          refCounts[n].set(k, (refCounts[n].get(k) ?? 0) + c);
        }
      }
    }
    const sum = refs.reduce((a, r) => a + r.length, 0);
    refWords += sum;
    avgRefLen += sum / refs.length;
  });
  const info = (key: string, n: number): number => {
    const c = refCounts[n].get(key);
    if (!c) return 0;
    const context = n === 1 ? refWords : refCounts[n - 1].get(
      key.split(SEP).slice(0, -1).join(SEP),
    )!;
    return Math.log2(context / c);
  };
  let score = 0;
  for (let n = 1; n <= maxN; n++) {
    let hitInfo = 0;
    for (const hits of hitSets[n - 1]) for (const [k, h] of hits) hitInfo += info(k, n) * h;
    if (candLens[n - 1] !== 0) score += hitInfo / candLens[n - 1];
  }
  const ratio = candLens[0] / avgRefLen;
  const penalty = ratio >= 1 ? 1 : ratio <= 0 ? 0 : Math.exp(-BETA * Math.log(ratio) ** 2);
  return penalty * score;
}
