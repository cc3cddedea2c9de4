/**
 * n-gram counting shared by BLEU, NIST and CIDEr. An n-gram is keyed by its
 * tokens joined with U+0001, a character no tokenizer here emits.
 *
 * @module
 */

/** Separator inside an n-gram key. */
export const SEP = "\u0001";

/**
 * Count the n-grams of one order in a token list.
 *
 * @param tokens the sentence
 * @param n the order (1 = unigrams)
 * @returns key -> count
 */
export function ngramCounts(tokens: readonly string[], n: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i + n <= tokens.length; i++) {
    const key = tokens.slice(i, i + n).join(SEP);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/**
 * Per n-gram, the largest count it has in any one of the sentences
 * (the clipping ceiling of BLEU and NIST).
 *
 * @param sentences the references
 * @param n the order
 * @returns key -> max count
 */
export function maxNgramCounts(
  sentences: readonly (readonly string[])[],
  n: number,
): Map<string, number> {
  const merged = new Map<string, number>();
  for (const s of sentences) {
    for (const [k, c] of ngramCounts(s, n)) merged.set(k, Math.max(merged.get(k) ?? 0, c));
  }
  return merged;
}
