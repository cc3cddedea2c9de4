/**
 * Turn one row's next-token logits `[V]` into a token: bad-word bans,
 * temperature, top-k, top-p, then argmax (greedy) or a seeded draw. Also the
 * log-softmax beam search scores with.
 *
 * @module
 */
import type { SeededRandom } from "../model/mod.ts";

/** How one row picks its next token. */
export interface SamplingParams {
  /** 0 or undefined: greedy. */
  temperature?: number;
  /** Keep the k most likely tokens (0 or undefined: off). */
  topK?: number;
  /** Keep the smallest set whose probability reaches p (1 or undefined: off). */
  topP?: number;
  /** Token sequences that must not be generated. */
  badWordsIds?: readonly (readonly number[])[];
}

/**
 * Ban bad words in place: a single-token entry is always banned; for a longer
 * one, its last token is banned when the ids so far end with the rest (as
 * Hugging Face's `NoBadWordsLogitsProcessor` does).
 *
 * @param logits `[V]` one row's logits, modified in place
 * @param context prompt and generated ids so far
 * @param badWordsIds the banned sequences
 */
export function banBadWords(
  logits: Float32Array,
  context: readonly number[],
  badWordsIds: readonly (readonly number[])[] | undefined,
): void {
  if (!badWordsIds) return;
  for (const seq of badWordsIds) {
    if (seq.length === 0) continue;
    const head = seq.length - 1;
    let match = context.length >= head;
    for (let i = 0; match && i < head; i++) {
      match = context[context.length - head + i] === seq[i];
    }
    if (match) logits[seq[head]] = -Infinity;
  }
}

/** @returns the index of the largest value (first on ties) */
export function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

/**
 * Pick the next token from one row's logits.
 *
 * @param logits `[V]` (modified: bans and temperature are applied in place)
 * @param params the row's sampling parameters
 * @param context prompt and generated ids so far (for bad words)
 * @param rng the row's generator (unused when greedy)
 * @returns the token id
 */
export function pickToken(
  logits: Float32Array,
  params: SamplingParams,
  context: readonly number[],
  rng: SeededRandom,
): number {
  banBadWords(logits, context, params.badWordsIds);
  const t = params.temperature ?? 0;
  if (t <= 0) return argmax(logits);
  // w_i = exp((l_i - max) / t): unnormalized probabilities.
  const V = logits.length;
  const maxLogit = logits[argmax(logits)];
  const w = new Float64Array(V);
  for (let i = 0; i < V; i++) w[i] = Math.exp((logits[i] - maxLogit) / t);
  // Top-k and top-p both keep the tokens whose weight reaches a threshold;
  // one native sort of the weights finds it (ties at the threshold are kept).
  const k = params.topK ?? 0, p = params.topP ?? 1;
  let threshold = 0;
  if ((k > 0 && k < V) || p < 1) {
    const sorted = w.slice().sort(); // ascending
    if (k > 0 && k < V) threshold = sorted[V - k];
    if (p < 1) {
      let total = 0;
      for (let i = 0; i < V; i++) total += sorted[i];
      let acc = 0, i = V - 1;
      while (i > 0 && (acc += sorted[i]) < p * total) i--;
      threshold = Math.max(threshold, sorted[i]);
    }
  }
  let kept = 0;
  for (let i = 0; i < V; i++) if (w[i] >= threshold) kept += w[i];
  let u = rng.next() * kept;
  let last = 0;
  for (let i = 0; i < V; i++) {
    if (w[i] < threshold || w[i] === 0) continue;
    last = i;
    u -= w[i];
    if (u < 0) return i;
  }
  return last;
}

/**
 * log-softmax of one row's logits.
 *
 * @param logits `[V]`
 * @returns `[V]` log-probabilities
 */
export function logSoftmax(logits: Float32Array): Float64Array {
  let m = -Infinity;
  for (const v of logits) if (v > m) m = v;
  let s = 0;
  for (const v of logits) s += Math.exp(v - m);
  const lse = m + Math.log(s);
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i] - lse;
  return out;
}
