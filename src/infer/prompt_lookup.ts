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
 * Shortest run of trailing tokens looked up. Replaying 16 of stories260K's greedy stories at the
 * GPT-2-small shape's pass costs, matches of one token gave the same speedup overall (1.29x) but
 * made the story drafts help least 6% slower than no drafts, against 1% with this minimum
 * (bench/RESULTS.md, "Drafts from the prompt at batch 1").
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

/** Weight of the newest pass in {@link DraftPayoff}'s running sums. */
const PAYOFF_SMOOTHING = 0.1;

/** Draft passes timed before {@link DraftPayoff} may judge that drafts do not pay. */
const PAYOFF_MIN_DRAFT_PASSES = 8;

/** While drafts do not pay, one draft in this many is still checked, to measure again. */
const PAYOFF_PROBE_EVERY = 16;

/**
 * Milliseconds per token over recent passes: sums of both that decay by
 * {@link PAYOFF_SMOOTHING} a pass, so that the newest passes count most.
 */
class RecentRate {
  #ms = 0;
  #tokens = 0;

  /** Whether any pass has been added. */
  get timed(): boolean {
    return this.#tokens > 0;
  }

  /** Milliseconds per token. */
  get msPerToken(): number {
    return this.#ms / this.#tokens;
  }

  add(ms: number, tokens: number): void {
    this.#ms = this.#ms * (1 - PAYOFF_SMOOTHING) + ms;
    this.#tokens = this.#tokens * (1 - PAYOFF_SMOOTHING) + tokens;
  }
}

/**
 * Whether drafting pays on this engine, from the time its forward passes take. Where decoding is
 * bound by reading the weights (native ORT on GPT-2 small: 5 tokens fed cost 1.2-1.4x one), a
 * pass that checks a draft costs little more than a one-token pass, so every accepted token is
 * nearly free. Where it is bound by arithmetic (WASM on GPT-2 small: 5 tokens cost 2.2x one), the
 * drafts a story accepts do not pay for the pass. So each pass is timed: the recent time a
 * one-token pass takes against the time draft passes took per token they emitted (sums of time
 * and tokens, so that a rejected draft weighs as one token, not as a whole pass's time). Drafting
 * stops while the second is the larger, except for one draft in {@link PAYOFF_PROBE_EVERY},
 * which keeps both current as the text or the machine changes.
 */
export class DraftPayoff {
  readonly #plain = new RecentRate();
  readonly #draft = new RecentRate();
  #draftPasses = 0;
  #declined = 0;

  /**
   * Record a one-token pass of a batch of one row.
   *
   * @param ms how long the pass took
   */
  recordPlain(ms: number): void {
    this.#plain.add(ms, 1);
  }

  /**
   * Record a pass that checked a draft.
   *
   * @param ms how long the pass took (the cache copy after a rejection included)
   * @param tokens how many tokens it emitted (1 + the draft tokens accepted)
   */
  recordDraft(ms: number, tokens: number): void {
    this.#draft.add(ms, tokens);
    this.#draftPasses++;
  }

  /**
   * Whether to check the draft at hand: yes until a one-token pass and
   * {@link PAYOFF_MIN_DRAFT_PASSES} draft passes have been timed (one pass says little), then while a
   * draft pass's time per token is at most a one-token pass's, and otherwise once in
   * {@link PAYOFF_PROBE_EVERY} drafts.
   */
  worthDrafting(): boolean {
    if (this.#draftPasses < PAYOFF_MIN_DRAFT_PASSES || !this.#plain.timed) return true;
    if (this.#draft.msPerToken <= this.#plain.msPerToken) return true;
    this.#declined = (this.#declined + 1) % PAYOFF_PROBE_EVERY;
    return this.#declined === 0;
  }
}
