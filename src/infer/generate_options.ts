/**
 * The options of one generated row, and their validation into a
 * {@link PreparedRow} the decode loops run. Every check happens before any
 * forward pass, so bad input fails fast with a typed error.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import { type ModelConfig, type Prefix, type TextTokenizer, validatePrefix } from "../model/mod.ts";
import type { SamplingParams } from "./logits_processors.ts";

/**
 * Options for one generated row.
 *
 * @example Sampled, with a stop string
 * ```ts
 * import { ok } from "node:assert";
 * import { loadModel } from "../model/mod.ts";
 * import { InferenceEngine } from "./inference_engine.ts";
 * const engine = await InferenceEngine.create(await loadModel("models/stories260K"), {
 *   executionProvider: "wasm",
 * });
 * const stream = engine.generate({
 *   prompt: "Lily", maxNewTokens: 8, temperature: 0.8, topP: 0.9, seed: 1, stop: ["."],
 * });
 * const { text, tokenIds, finishReason } = await stream.result;
 * // The row ends at the first "." (left out of the text) or after 8 new tokens.
 * ok(finishReason === "stop" || finishReason === "length", finishReason);
 * ok(!text.includes(".") && tokenIds.length <= 8, text);
 * await engine.dispose();
 * ```
 */
export interface GenerateOptions {
  /** Text prompt (needs a tokenizer; special tokens such as Llama's BOS are added) ... */
  prompt?: string;
  /** ... or token ids (one of the two; an empty prompt starts from BOS). */
  inputIds?: number[];
  /** This row's folded prefix; `null` or absent runs the bare base model. */
  prefix?: Prefix | null;
  /** Upper bound on new tokens (default 64; also capped by the context left). */
  maxNewTokens?: number;
  /** 0 or undefined: greedy. */
  temperature?: number;
  /** Top-k cut-off (0 = off). */
  topK?: number;
  /** Nucleus cut-off (1 = off). */
  topP?: number;
  /** Sampling seed (default: random). */
  seed?: number;
  /** Beam width (default 1 = no beam search). */
  numBeams?: number;
  /** Beam score = sum log p / length^lengthPenalty (default 1). */
  lengthPenalty?: number;
  /** Stop strings: generation ends before the first one (not included in the text). */
  stop?: string[];
  /** Default: the config's and tokenizer's EOS ids. */
  eosTokenIds?: number[];
  /** Token sequences that must not be generated. */
  badWordsIds?: number[][];
  /** Aborting ends this row early (finishReason "cancelled"). */
  signal?: AbortSignal;
}

/** A validated row. */
export interface PreparedRow {
  promptIds: number[];
  prefix: Prefix | null;
  /** New tokens allowed: min(maxNewTokens, context left + 1). */
  maxNewTokens: number;
  sampling: SamplingParams;
  seed: number;
  numBeams: number;
  lengthPenalty: number;
  stop: string[];
  eos: Set<number>;
  signal?: AbortSignal;
}

/** Default number of new tokens. */
export const DEFAULT_MAX_NEW_TOKENS = 64;

/**
 * Validate one row against the model.
 *
 * @param opts the caller's options
 * @param config the base model
 * @param tokenizer the model's tokenizer, if any
 * @param defaultEos the ids that end a row when `opts.eosTokenIds` is absent (see
 *   {@link defaultEosIds})
 * @param what row name for errors ("row 2")
 * @returns the prepared row
 * @throws {PrefixEdgeError} `INVALID_INPUT`, `TOKENIZER_MISSING`,
 *   `TOKEN_OUT_OF_RANGE`, `PREFIX_MISMATCH`, `CONTEXT_OVERFLOW`
 */
export function prepareRow(
  opts: GenerateOptions,
  config: ModelConfig,
  tokenizer: TextTokenizer | null,
  defaultEos: readonly number[],
  what = "generate",
): PreparedRow {
  const bad = (why: string): never => {
    throw new PrefixEdgeError("INVALID_INPUT", `Cannot ${what}: ${why}`);
  };
  if (opts === null || typeof opts !== "object") bad("options must be an object");
  if ((opts.prompt === undefined) === (opts.inputIds === undefined)) {
    bad("pass exactly one of prompt (text) or inputIds");
  }
  let ids: number[];
  if (opts.prompt !== undefined) {
    if (typeof opts.prompt !== "string") bad("prompt must be a string");
    if (!tokenizer) {
      throw new PrefixEdgeError(
        "TOKENIZER_MISSING",
        `Cannot ${what}: the model has no tokenizer.json, so pass inputIds instead of a prompt`,
      );
    }
    ids = tokenizer.encode(opts.prompt);
  } else {
    if (!Array.isArray(opts.inputIds)) bad("inputIds must be an array of token ids");
    ids = [...opts.inputIds!];
  }
  if (ids.length === 0) {
    const bos = config.bosTokenId ?? tokenizer?.bosTokenId;
    if (bos === undefined) bad("the prompt is empty and the model has no BOS token to start from");
    ids = [bos!];
  }
  checkIds(ids, config.vocabSize, `${what}: prompt`);

  const prefix = opts.prefix ?? null;
  if (prefix) {
    validatePrefix(
      config,
      prefix,
      what === "generate" ? "the prefix" : `the prefix of ${what.slice(9)}`,
    );
  }
  const P = prefix?.prefixLen ?? 0;
  const left = config.maxPositions - P;
  if (ids.length > left) {
    throw new PrefixEdgeError(
      "CONTEXT_OVERFLOW",
      `Cannot ${what}: the prompt has ${ids.length} tokens but only ${left} positions are left (${config.maxPositions} minus a prefix of ${P})`,
    );
  }

  const maxNew = opts.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS;
  if (!Number.isInteger(maxNew) || maxNew < 0) {
    bad(`maxNewTokens must be a non-negative integer, got ${maxNew}`);
  }
  const temperature = opts.temperature ?? 0;
  if (!Number.isFinite(temperature) || temperature < 0) {
    bad(`temperature must be >= 0, got ${temperature}`);
  }
  const topK = opts.topK ?? 0;
  if (!Number.isInteger(topK) || topK < 0) bad(`topK must be a non-negative integer, got ${topK}`);
  const topP = opts.topP ?? 1;
  if (!(topP > 0 && topP <= 1)) bad(`topP must be in (0, 1], got ${topP}`);
  const numBeams = opts.numBeams ?? 1;
  if (!Number.isInteger(numBeams) || numBeams < 1) {
    bad(`numBeams must be a positive integer, got ${numBeams}`);
  }
  const lengthPenalty = opts.lengthPenalty ?? 1;
  if (!Number.isFinite(lengthPenalty)) bad(`lengthPenalty must be finite, got ${lengthPenalty}`);
  if (numBeams > 1 && temperature > 0) {
    bad("beam search is deterministic: use numBeams or temperature, not both");
  }
  const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 32);
  if (!Number.isFinite(seed)) bad(`seed must be a number, got ${seed}`);
  const stop = opts.stop ?? [];
  if (!Array.isArray(stop) || stop.some((s) => typeof s !== "string")) {
    bad("stop must be an array of strings");
  }
  if (stop.some((s) => s.length > 0) && !tokenizer) {
    throw new PrefixEdgeError(
      "TOKENIZER_MISSING",
      `Cannot ${what}: stop strings need a tokenizer to decode text`,
    );
  }
  for (const seq of opts.badWordsIds ?? []) checkIds(seq, config.vocabSize, `${what}: badWordsIds`);
  const eosIds = opts.eosTokenIds ?? defaultEos;
  checkIds(eosIds, config.vocabSize, `${what}: eosTokenIds`);

  return {
    promptIds: ids,
    prefix,
    maxNewTokens: Math.min(maxNew, left - ids.length + 1),
    sampling: { temperature, topK, topP, badWordsIds: opts.badWordsIds },
    seed,
    numBeams,
    lengthPenalty,
    stop,
    eos: new Set(eosIds),
    signal: opts.signal,
  };
}

/**
 * The ids that end a row by default, as HF `generate` reads them: generation_config.json's
 * `eos_token_id` (Qwen lists `<|im_end|>` and `<|endoftext|>` there, so a chat ends at the end
 * of its turn), config.json's, and the tokenizer's EOS. Ids outside the vocabulary are left out.
 *
 * @param config the base model
 * @param generationConfig generation_config.json, parsed (`{}` when absent)
 * @param tokenizer the model's tokenizer, if any
 * @returns the ids, without repeats
 *
 * @example Qwen's end of turn
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { loadModel } from "../model/mod.ts";
 * import { defaultEosIds } from "./generate_options.ts";
 * const model = await loadModel("models/stories260K");
 * assertEquals(defaultEosIds(model.config, { eos_token_id: [3, 2] }, null), [3, 2]);
 * ```
 */
export function defaultEosIds(
  config: ModelConfig,
  generationConfig: Record<string, unknown>,
  tokenizer: TextTokenizer | null,
): number[] {
  const fromGeneration = [generationConfig.eos_token_id].flat().filter((id): id is number =>
    Number.isInteger(id)
  );
  const ids = [...fromGeneration, ...config.eosTokenIds, tokenizer?.eosTokenId];
  return [...new Set(ids)].filter((id): id is number =>
    id !== undefined && id >= 0 && id < config.vocabSize
  );
}

/**
 * Check token ids against the vocabulary.
 *
 * @param ids the ids
 * @param vocabSize V
 * @param what context for the message
 * @throws {PrefixEdgeError} `TOKEN_OUT_OF_RANGE`
 */
export function checkIds(ids: readonly number[], vocabSize: number, what: string): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new PrefixEdgeError(
        "TOKEN_OUT_OF_RANGE",
        `Cannot ${what}: id ${id} at index ${i} is outside the vocabulary [0, ${vocabSize})`,
      );
    }
  }
}
