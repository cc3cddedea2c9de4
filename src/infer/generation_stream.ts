/**
 * The stream one generated row hands its caller: an async iterable of
 * {@link TokenEvent}s plus a `result` promise. Events are queued, so the
 * decode loop never waits for a slow reader.
 *
 * @module
 */

/** One new token. `text` is the text it adds (may be "" while held back). */
export interface TokenEvent {
  /** Vocabulary id. */
  tokenId: number;
  /** The new decoded text delta. */
  text: string;
  /** 0-based index among the new tokens. */
  index: number;
}

/** Why a row stopped. */
export type FinishReason = "eos" | "length" | "stop" | "cancelled";

/** What one row produced. The concatenated event texts equal `text`. */
export interface GenerationResult {
  /** The new tokens (an EOS that ended the row included; stop-string tokens included). */
  tokenIds: number[];
  /** The new text (special tokens and the stop string excluded). */
  text: string;
  /** Why the row stopped. */
  finishReason: FinishReason;
  /** Tokens in the prompt (prefix excluded). */
  promptTokens: number;
  /** Draft tokens this row's passes checked (prompt lookup; 0 when it never drafted). */
  draftedTokens: number;
  /** Of those, the tokens kept: each saved one forward pass. */
  acceptedDraftTokens: number;
}

/** A row's token stream; `result` settles when the row ends. */
export interface GenerationStream extends AsyncIterable<TokenEvent> {
  /** The row's final result (rejects if decoding failed). */
  result: Promise<GenerationResult>;
}

/** The producer side of a {@link GenerationStream}. */
export class StreamController {
  readonly #events: TokenEvent[] = [];
  #done = false;
  #error: unknown = undefined;
  #wake: (() => void) | undefined;
  #resolve!: (r: GenerationResult) => void;
  #reject!: (e: unknown) => void;
  /** The consumer side. */
  readonly stream: GenerationStream;

  constructor() {
    const result = new Promise<GenerationResult>((res, rej) => {
      this.#resolve = res;
      this.#reject = rej;
    });
    // A caller that only iterates must not crash the process with an
    // unhandled rejection: the iterator rethrows the error instead.
    result.catch(() => {});
    this.stream = { result, [Symbol.asyncIterator]: () => this.#iterate() };
  }

  async *#iterate(): AsyncGenerator<TokenEvent> {
    while (true) {
      if (this.#events.length > 0) {
        yield this.#events.shift()!;
        continue;
      }
      if (this.#error !== undefined) throw this.#error;
      if (this.#done) return;
      await new Promise<void>((r) => (this.#wake = r));
    }
  }

  /** Whether `end` or `fail` was called. */
  get closed(): boolean {
    return this.#done || this.#error !== undefined;
  }

  /** Queue one event. */
  push(event: TokenEvent): void {
    this.#events.push(event);
    this.#notify();
  }

  /** Finish the row. */
  end(result: GenerationResult): void {
    if (this.closed) return;
    this.#done = true;
    this.#resolve(result);
    this.#notify();
  }

  /** Fail the row. */
  fail(error: unknown): void {
    if (this.closed) return;
    this.#error = error ?? new Error("generation failed");
    this.#reject(this.#error);
    this.#notify();
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }
}
