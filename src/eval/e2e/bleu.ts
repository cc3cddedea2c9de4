/**
 * Corpus BLEU-4 as the E2E scorer's Python mode computes it
 * (`BLEUScore` in tuetschek/e2e-metrics `metrics/pymteval.py`, after
 * Papineni et al. 2002 and mteval-v13a): clipped n-gram hits against the
 * per-n-gram maximum over an input's references, summed over the corpus;
 * brevity penalty against the reference closest in length (ties go to the
 * shorter); case-insensitive; no smoothing beyond a 1e-15 floor on hits.
 *
 * @module
 */
import { maxNgramCounts, ngramCounts } from "./_ngrams.ts";

const TINY = 1e-15;
const SMALL = 1e-9;

/**
 * Corpus BLEU over tokenized, lowercased sentences.
 *
 * @param hypotheses `[N]` token lists
 * @param references `[N][R_i]` token lists (at least one per input)
 * @param maxN highest n-gram order (default 4)
 * @returns BLEU as a fraction in [0, 1]
 *
 * @example A perfect match
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { corpusBleu } from "./bleu.ts";
 * const s = ["the", "pub", "is", "near", "the", "river"];
 * assertEquals(corpusBleu([s], [[s]]), 1);
 * ```
 */
export function corpusBleu(
  hypotheses: readonly (readonly string[])[],
  references: readonly (readonly (readonly string[])[])[],
  maxN = 4,
): number {
  const hits = new Array<number>(maxN).fill(0);
  const candLens = new Array<number>(maxN).fill(0);
  let refLen = 0;
  hypotheses.forEach((hyp, i) => {
    const refs = references[i];
    for (let n = 1; n <= maxN; n++) {
      const ceiling = maxNgramCounts(refs, n);
      for (const [k, c] of ngramCounts(hyp, n)) hits[n - 1] += Math.min(c, ceiling.get(k) ?? 0);
      // The scorer adds len - n + 1 even when it is negative.
      candLens[n - 1] += hyp.length - (n - 1);
    }
    let closest = refs[0].length;
    for (const r of refs) {
      const d = Math.abs(r.length - hyp.length), best = Math.abs(closest - hyp.length);
      if (d < best || (d === best && r.length < closest)) closest = r.length;
    }
    refLen += closest;
  });
  let bp = 1;
  if (candLens[0] <= refLen) bp = Math.exp(1 - refLen / (candLens[0] || 1e-5));
  let logSum = 0;
  for (let n = 0; n < maxN; n++) {
    logSum += Math.log(Math.max(hits[n], TINY) / Math.max(candLens[n], SMALL));
  }
  return bp * Math.exp(logSum / maxN);
}
