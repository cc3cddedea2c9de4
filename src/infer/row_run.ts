/**
 * One row's progress while it is decoded: its tokens, its text, its stop rules
 * and the stream it feeds. The decode loops call {@link RowRun.accept} with
 * each new token and drop the row once it returns `true`.
 *
 * @module
 */
import { SeededRandom, type TextTokenizer } from "../model/mod.ts";
import type { PreparedRow } from "./generate_options.ts";
import type { FinishReason, StreamController } from "./generation_stream.ts";
import { TextDelta } from "./text_delta.ts";

/** A row being decoded. */
export class RowRun {
  readonly row: PreparedRow;
  readonly controller: StreamController;
  readonly rng: SeededRandom;
  /** Prompt then generated ids (bad-word matching reads it). */
  readonly context: number[];
  readonly generated: number[] = [];
  /** Draft tokens checked for this row, and those kept (see `prompt_lookup.ts`). */
  draftedTokens = 0;
  acceptedDraftTokens = 0;
  readonly #text: TextDelta;

  constructor(row: PreparedRow, tokenizer: TextTokenizer | null, controller: StreamController) {
    this.row = row;
    this.controller = controller;
    this.rng = new SeededRandom(row.seed);
    this.context = [...row.promptIds];
    this.#text = new TextDelta(tokenizer, row.promptIds, row.stop);
  }

  /** Whether the row has ended. */
  get done(): boolean {
    return this.controller.closed;
  }

  /** Whether the caller aborted. */
  get aborted(): boolean {
    return this.row.signal?.aborted === true;
  }

  /**
   * Record one new token, stream its text, and end the row on EOS, a stop
   * string or the length limit.
   *
   * @param id the new token
   * @returns whether the row has ended
   */
  accept(id: number): boolean {
    const index = this.generated.length;
    this.generated.push(id);
    this.context.push(id);
    const step = this.#text.push(id);
    let reason: FinishReason | undefined;
    if (step.stopped) reason = "stop";
    else if (this.row.eos.has(id)) reason = "eos";
    else if (this.generated.length >= this.row.maxNewTokens) reason = "length";
    const text = step.delta + (reason && reason !== "stop" ? this.#text.flush() : "");
    this.controller.push({ tokenId: id, text, index });
    if (reason) this.finish(reason);
    return reason !== undefined;
  }

  /**
   * End the row.
   *
   * @param reason why it ended
   */
  finish(reason: FinishReason): void {
    this.controller.end({
      tokenIds: [...this.generated],
      text: this.#text.text,
      finishReason: reason,
      promptTokens: this.row.promptIds.length,
      draftedTokens: this.draftedTokens,
      acceptedDraftTokens: this.acceptedDraftTokens,
    });
  }
}
