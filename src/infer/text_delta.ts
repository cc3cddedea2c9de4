/**
 * Incremental detokenization with stop strings. Each new token re-decodes the
 * generated ids (after a few prompt ids, so a leading space survives
 * SentencePiece's strip) and hands out only text that is final: a trailing
 * U+FFFD (an incomplete UTF-8 byte sequence) and any tail that could still
 * grow into a stop string are held back.
 *
 * @module
 */
import type { TextTokenizer } from "../model/mod.ts";

// Prompt ids decoded ahead of the output: enough for the decoder to see the
// output does not start the text (SentencePiece strips one leading space).
const CONTEXT_IDS = 3;

/** What one token added. */
export interface DeltaStep {
  /** Text that is final now. */
  delta: string;
  /** Whether a stop string appeared (the text before it is all emitted). */
  stopped: boolean;
}

/** Tracks one row's generated text. */
export class TextDelta {
  readonly #tok: TextTokenizer | null;
  readonly #ctx: number[];
  readonly #ctxText: string;
  readonly #stop: readonly string[];
  readonly #ids: number[] = [];
  #emitted = "";
  #full = "";

  /**
   * @param tokenizer decodes ids; `null` makes every delta ""
   * @param promptIds the prompt (its last few ids give context)
   * @param stop stop strings (non-empty)
   */
  constructor(
    tokenizer: TextTokenizer | null,
    promptIds: readonly number[],
    stop: readonly string[],
  ) {
    this.#tok = tokenizer;
    this.#ctx = promptIds.slice(-CONTEXT_IDS);
    this.#ctxText = tokenizer ? tokenizer.decode(this.#ctx) : "";
    this.#stop = stop.filter((s) => s.length > 0);
  }

  /** Text emitted so far. */
  get text(): string {
    return this.#emitted;
  }

  /**
   * Add one token.
   *
   * @param id the new token
   * @returns the final text it adds, and whether a stop string appeared
   */
  push(id: number): DeltaStep {
    if (!this.#tok) return { delta: "", stopped: false };
    this.#ids.push(id);
    const withCtx = this.#tok.decode([...this.#ctx, ...this.#ids]);
    this.#full = withCtx.startsWith(this.#ctxText)
      ? withCtx.slice(this.#ctxText.length)
      : this.#tok.decode(this.#ids);
    let cut = Infinity;
    for (const s of this.#stop) {
      const at = this.#full.indexOf(s);
      if (at >= 0) cut = Math.min(cut, at);
    }
    if (cut !== Infinity) return { delta: this.#take(cut), stopped: true };
    return { delta: this.#take(this.#full.length - this.#heldBack()), stopped: false };
  }

  /** @returns the text still held back (call when the row ends without a stop) */
  flush(): string {
    return this.#take(this.#full.length);
  }

  #take(end: number): string {
    const text = this.#full.slice(0, end);
    if (!text.startsWith(this.#emitted) || text.length <= this.#emitted.length) return "";
    const delta = text.slice(this.#emitted.length);
    this.#emitted = text;
    return delta;
  }

  #heldBack(): number {
    const full = this.#full;
    let hold = 0;
    while (hold < full.length && full[full.length - 1 - hold] === "\uFFFD") hold++;
    for (const s of this.#stop) {
      for (let k = Math.min(s.length - 1, full.length); k > hold; k--) {
        if (full.endsWith(s.slice(0, k))) {
          hold = k;
          break;
        }
      }
    }
    return hold;
  }
}
