/**
 * CIDEr as the E2E scorer computes it (`Cider` in the `pycocoevalcap`
 * bundled with tuetschek/e2e-metrics, i.e. the CIDEr-D variant of Vedantam
 * et al. 2015): TF-IDF vectors of 1..4-grams, IDF from the references of the
 * evaluated set itself (so the score depends on the whole set), the
 * hypothesis' counts clipped by the reference's, a Gaussian length penalty
 * with sigma = 6, the mean over orders and references, times 10.
 *
 * As in pycocoevalcap, the "length" in the penalty is the number of bigram
 * occurrences (it counts n-grams of index 1), and a reference n-gram that
 * appears in no reference set (impossible here) would get IDF `log(N)`.
 *
 * @module
 */
import { ngramCounts } from "./_ngrams.ts";

const N = 4;
const SIGMA = 6;

interface Vec {
  vec: Map<string, number>[];
  norm: number[];
  length: number;
}

function counts(sentence: string): Map<string, number>[] {
  // Python's str.split(): runs of whitespace, no empty tokens.
  const words = sentence.split(/\s+/).filter((w) => w !== "");
  return Array.from({ length: N }, (_, n) => ngramCounts(words, n + 1));
}

/**
 * Corpus CIDEr-D over tokenized strings.
 *
 * @param hypotheses `[N]` tokenized strings (tokens joined by spaces)
 * @param references `[N][R_i]` tokenized strings
 * @returns the mean CIDEr over inputs (0 to about 10)
 *
 * @example Copies of the references score above 0
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { corpusCider } from "./cider.ts";
 * const refs = [["a pub near the river"], ["a cheap cafe in the centre"]];
 * assertEquals(corpusCider(["a pub near the river", "a cafe"], refs) > 0, true);
 * ```
 */
export function corpusCider(
  hypotheses: readonly string[],
  references: readonly (readonly string[])[],
): number {
  if (hypotheses.length === 0) return 0;
  const refCounts = references.map((refs) => refs.map(counts));
  const df = new Map<string, number>();
  for (const refs of refCounts) {
    const seen = new Set<string>();
    for (const r of refs) for (const m of r) for (const k of m.keys()) seen.add(k);
    for (const k of seen) df.set(k, (df.get(k) ?? 0) + 1);
  }
  const logN = Math.log(references.length);
  const toVec = (c: Map<string, number>[]): Vec => {
    let length = 0;
    const norm = new Array<number>(N).fill(0);
    const vec = c.map((m, n) => {
      const v = new Map<string, number>();
      for (const [k, tf] of m) {
        const w = tf * (logN - Math.log(Math.max(1, df.get(k) ?? 0)));
        v.set(k, w);
        norm[n] += w * w;
        if (n === 1) length += tf;
      }
      return v;
    });
    return { vec, norm: norm.map(Math.sqrt), length };
  };
  let total = 0;
  hypotheses.forEach((h, i) => {
    const hyp = toVec(counts(h));
    const score = new Array<number>(N).fill(0);
    for (const rc of refCounts[i]) {
      const ref = toVec(rc);
      const delta = hyp.length - ref.length;
      for (let n = 0; n < N; n++) {
        let val = 0;
        for (const [k, w] of hyp.vec[n]) {
          const r = ref.vec[n].get(k) ?? 0;
          val += Math.min(w, r) * r;
        }
        if (hyp.norm[n] !== 0 && ref.norm[n] !== 0) val /= hyp.norm[n] * ref.norm[n];
        score[n] += val * Math.exp(-(delta ** 2) / (2 * SIGMA ** 2));
      }
    }
    const mean = score.reduce((a, b) => a + b, 0) / N;
    total += (mean / refCounts[i].length) * 10;
  });
  return total / hypotheses.length;
}
