/**
 * Prompt lookup: draft tokens for a row from its own context, with no second model. When the
 * last few tokens of the row (prompt and generated) occurred earlier in it, the tokens that
 * followed them then are the draft. One forward pass then checks the whole draft (see
 * `ContinuousBatch`): it feeds the row's next token and the draft, picks a token from each
 * column's logits exactly as a one-token step would, and keeps the draft up to the first token
 * the pick disagrees with. Text that repeats its prompt or itself (names, slot values, code, the
 * refrains of a story) then costs fewer forward passes, and the tokens stay the ones plain
 * decoding picks.
 *
 * @module
 */

/** Default of the engine's `draftTokens`: most draft tokens one step checks. */
export const DEFAULT_DRAFT_TOKENS = 4;

/** Longest run of trailing tokens looked up; longer matches are tried first. */
export const LOOKUP_NGRAM_MAX = 3;

/**
 * Shortest run of trailing tokens looked up. One token alone matches too often: on stories260K's
 * own stories a 1-token match drafted twice as many tokens that were then rejected, for a few more
 * accepted (see docs/inference.md, "Drafts from the prompt").
 */
export const LOOKUP_NGRAM_MIN = 2;

/**
 * Draft up to `maxTokens` tokens: find the latest earlier occurrence of the context's last n
 * tokens (n from {@link LOOKUP_NGRAM_MAX} down to {@link LOOKUP_NGRAM_MIN}) and return the tokens
 * that followed it.
 *
 * @param context the row's prompt and generated tokens, in order
 * @param maxTokens most tokens to draft (0 drafts none)
 * @returns the draft, possibly empty
 */
export function draftFromContext(context: readonly number[], maxTokens: number): number[] {
  if (maxTokens <= 0) return [];
  const end = context.length;
  for (let n = Math.min(LOOKUP_NGRAM_MAX, end - 1); n >= LOOKUP_NGRAM_MIN; n--) {
    // The latest start s < end - n whose n tokens equal the last n (the suffix itself excluded).
    for (let s = end - n - 1; s >= 0; s--) {
      let j = 0;
      while (j < n && context[s + j] === context[end - n + j]) j++;
      if (j === n) return context.slice(s + n, Math.min(end, s + n + maxTokens));
    }
  }
  return [];
}
