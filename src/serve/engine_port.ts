/**
 * The slice of the inference engine that the server uses. The real
 * `InferenceEngine` (src/infer) satisfies it structurally; tests pass small
 * fakes. Keeping the port this narrow is what lets the scheduler, the routes
 * and the registry be tested without ONNX Runtime.
 *
 * @module
 */
import type { FinishReason, GenerateOptions } from "../infer/mod.ts";
import type { ChatMessage, ModelConfig } from "../model/mod.ts";

/** Options for one generated row: the part of the engine's `GenerateOptions` the server sets. */
export type RowOptions = Pick<
  GenerateOptions,
  | "prompt"
  | "inputIds"
  | "prefix"
  | "maxNewTokens"
  | "temperature"
  | "topK"
  | "topP"
  | "seed"
  | "numBeams"
  | "stop"
  | "eosTokenIds"
  | "signal"
>;

/** One generated token, as the engine streams it. */
export interface RowToken {
  /** Vocabulary id. */
  tokenId: number;
  /** The text this token adds to the output. */
  text: string;
  /** 0-based position among the new tokens. */
  index: number;
}

/** What one row produced. */
export interface RowResult {
  /** The new tokens. */
  tokenIds: number[];
  /** The new text (stop string excluded). */
  text: string;
  /** Why it stopped. */
  finishReason: FinishReason;
  /** Tokens in the prompt (prefix excluded). */
  promptTokens: number;
  /** Draft tokens checked for the row, if the engine drafts (prompt lookup). */
  draftedTokens?: number;
  /** Of those, the tokens kept. */
  acceptedDraftTokens?: number;
}

/** A row's token stream; `result` settles when the row ends. */
export interface RowStream extends AsyncIterable<RowToken> {
  /** The row's final result. */
  result: Promise<RowResult>;
}

/**
 * An engine batch that rows may join while it decodes (the real engine's
 * `ContinuousBatch`): each added row joins at a step boundary (within a few
 * steps, per the engine's join policy).
 */
export interface JoinableBatch {
  /**
   * Whether rows added while the batch decodes join it at once. `false`
   * where the engine cannot merge rows into a running batch (WebGPU when its
   * on-device cache graphs failed to load); the scheduler then batches per wave.
   */
  readonly joinable: boolean;
  /**
   * Add one row; it joins at a coming step boundary (or starts the batch).
   * Throws synchronously for invalid options, failing only this row.
   */
  add(row: RowOptions): RowStream;
}

/** What the server needs from an inference engine. */
export interface ServeEngine {
  /** The base model's config. */
  readonly config: ModelConfig;
  /** The execution provider in use (for logs and /healthz). */
  readonly executionProvider?: string;
  /** The ids that end a row by default (a task's own end tokens are added to them). */
  readonly eosTokenIds?: readonly number[];
  /**
   * The model's tokenizer, for chat: it renders messages with the model's chat template.
   * Absent or `null`: chats use the plain fallback (see `applyChatTemplate`).
   */
  readonly tokenizer?: { applyChatTemplate(messages: ChatMessage[]): string } | null;
  /** One batched forward per step over all rows, each row with its own prefix. */
  generateBatch(rows: RowOptions[]): RowStream[];
  /**
   * Optional: open a batch that rows can join between decode steps. When
   * present and its batch is `joinable`, the scheduler adds requests to the
   * running batch instead of waiting for the next wave.
   */
  openBatch?(): JoinableBatch;
  /** Tokens the prompt will take (as the engine will encode it). */
  countTokens(text: string): number;
  /** Positions left for real tokens once a prefix of `prefixLen` is in place. */
  contextLeft(prefixLen: number): number;
}
