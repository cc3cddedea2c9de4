/**
 * Text examples -> token ids with masked input labels.
 *
 * One example becomes `encode(input + separator)` followed by the output's
 * tokens and EOS. The output's tokens are what `encode(input + separator +
 * " " + output)` adds after the prompt's tokens, so a prompt tokenized alone
 * at inference time is the exact prefix the model was trained on. (GPT-2's
 * pre-tokenizer splits before a space, so this holds; if a tokenizer merges
 * across the boundary, the output is encoded alone as `" " + output`.)
 *
 * Labels follow Hugging Face: aligned with `inputIds` (the model shifts),
 * `-100` over the prompt, the token id over the output and the EOS.
 *
 * @module
 */
import { PrefixEdgeError } from "../../errors/mod.ts";
import { sha256Hex, type TextTokenizer } from "../../model/mod.ts";
import type { TextExample, TokenizedExample } from "./example.ts";
import type { DataFormat, LoadedExamples } from "./load_examples.ts";

/** Label value that marks a token the loss ignores. */
export const IGNORE_INDEX: number = -100;

/** The part of {@link TextTokenizer} tokenizing needs (tests may pass a simpler one). */
export type EncodeOnly = Pick<TextTokenizer, "encode">;

/**
 * Tokenize one example.
 *
 * @param tokenizer the base model's tokenizer
 * @param example the text pair
 * @param separator text between input and output (`" ||"` for E2E/JSONL)
 * @param eosTokenId id that ends every target
 * @returns ids and labels of equal length
 *
 * @example Tokenize with a character tokenizer (one id per character)
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { tokenizeExample } from "./tokenize_dataset.ts";
 * const tok = { encode: (s: string) => [...s].map((c) => c.charCodeAt(0)) };
 * const ex = tokenizeExample(tok, { input: "a", output: "b" }, " |", 0);
 * assertEquals(ex.labels, [-100, -100, -100, 32, 98, 0]);
 * ```
 */
export function tokenizeExample(
  tokenizer: EncodeOnly,
  example: TextExample,
  separator: string,
  eosTokenId: number,
): TokenizedExample {
  const promptText = example.input + separator;
  const prompt = tokenizer.encode(promptText);
  const full = tokenizer.encode(`${promptText} ${example.output}`);
  let target: number[];
  if (full.length >= prompt.length && prompt.every((id, i) => full[i] === id)) {
    target = full.slice(prompt.length);
  } else {
    target = tokenizer.encode(` ${example.output}`, { addSpecialTokens: false });
  }
  return {
    inputIds: [...prompt, ...target, eosTokenId],
    labels: [...prompt.map(() => IGNORE_INDEX), ...target, eosTokenId],
  };
}

/** A tokenized data file, ready for batching. */
export interface TokenizedDataset {
  /** The file it came from. */
  source: string;
  /** The adapter that read it. */
  format: DataFormat;
  /** The separator used between input and output. */
  separator: string;
  /** Examples that fit in `maxLen` tokens, in file order. */
  examples: TokenizedExample[];
  /** How many examples were longer than `maxLen` and left out. */
  dropped: number;
  /** Tokens that count towards the loss (outputs + EOS), over `examples`. */
  targetTokens: number;
  /** sha256 (hex) over the separator and every example's ids and labels. */
  fingerprint: string;
  /** The first kept example's input text, to show what an input looks like. */
  exampleInput?: string;
}

/** Options of {@link tokenizeDataset}. */
export interface TokenizeDatasetOptions {
  /** Longest example kept, in tokens (prompt + output + EOS); longer ones are dropped. */
  maxLen: number;
  /** Id that ends every target. */
  eosTokenId: number;
}

/**
 * Tokenize every example of a file. Examples longer than `maxLen` are left
 * out (truncating would cut the EOS or the input, which teaches the wrong
 * thing) and counted in `dropped`.
 *
 * @param loaded the file's examples ({@link loadExamples})
 * @param tokenizer the base model's tokenizer
 * @param options `maxLen` and `eosTokenId`
 * @returns the dataset with its fingerprint
 * @throws {PrefixEdgeError} `DATA_INVALID` when the file has no examples or none fits
 *
 * @example Tokenize the embedded E2E subset
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { loadModel } from "../../model/mod.ts";
 * import { loadExamples } from "./load_examples.ts";
 * import { tokenizeDataset } from "./tokenize_dataset.ts";
 * const model = await loadModel("tests/fixtures/gpt2-text");
 * const tok = model.requireTokenizer();
 * const loaded = await loadExamples("data/e2e-small/train.csv");
 * const ds = await tokenizeDataset(loaded, tok, { maxLen: 128, eosTokenId: tok.eosTokenId! });
 * assertEquals([ds.examples.length, ds.dropped], [232, 68]); // 68 are longer than 128 tokens
 * const { inputIds, labels } = ds.examples[0];
 * assertEquals([labels[0], inputIds.at(-1), labels.at(-1)], [-100, tok.eosTokenId, tok.eosTokenId]);
 * ```
 */
export async function tokenizeDataset(
  loaded: LoadedExamples,
  tokenizer: EncodeOnly,
  options: TokenizeDatasetOptions,
): Promise<TokenizedDataset> {
  if (loaded.examples.length === 0) {
    throw new PrefixEdgeError(
      "DATA_INVALID",
      `Cannot train on ${loaded.path}: it holds no examples`,
    );
  }
  const examples: TokenizedExample[] = [];
  let dropped = 0, targetTokens = 0;
  let exampleInput: string | undefined;
  for (const ex of loaded.examples) {
    const t = tokenizeExample(tokenizer, ex, loaded.separator, options.eosTokenId);
    if (t.inputIds.length > options.maxLen) {
      dropped++;
      continue;
    }
    exampleInput ??= ex.input;
    examples.push(t);
    for (const l of t.labels) if (l !== IGNORE_INDEX) targetTokens++;
  }
  if (examples.length === 0) {
    throw new PrefixEdgeError(
      "DATA_INVALID",
      `Cannot train on ${loaded.path}: ${
        loaded.examples.length === 1
          ? "its only example is"
          : `all ${loaded.examples.length} examples are`
      } longer than max-len ${options.maxLen} tokens`,
    );
  }
  return {
    source: loaded.path,
    format: loaded.format,
    separator: loaded.separator,
    examples,
    dropped,
    targetTokens,
    fingerprint: await fingerprintExamples(loaded.separator, examples),
    ...(exampleInput !== undefined ? { exampleInput } : {}),
  };
}

async function fingerprintExamples(
  separator: string,
  examples: TokenizedExample[],
): Promise<string> {
  const n = examples.reduce((a, e) => a + 1 + 2 * e.inputIds.length, 0);
  const ints = new Int32Array(n);
  let o = 0;
  for (const e of examples) {
    ints[o++] = e.inputIds.length;
    ints.set(e.inputIds, o);
    o += e.inputIds.length;
    ints.set(e.labels, o);
    o += e.labels.length;
  }
  const sep = new TextEncoder().encode(separator);
  const bytes = new Uint8Array(sep.length + ints.byteLength);
  bytes.set(sep);
  bytes.set(new Uint8Array(ints.buffer), sep.length);
  return await sha256Hex(bytes);
}
