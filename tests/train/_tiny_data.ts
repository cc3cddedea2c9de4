/** Tiny tokenized datasets for loop tests: a character tokenizer (one id per character), no files. */
import { tokenizeDataset, type TokenizedDataset } from "../../src/train/mod.ts";

/** One id per character, inside gpt2-tiny's 1000-token vocabulary. */
export const charTokenizer = {
  encode: (s: string) => [...s].map((c) => (c.charCodeAt(0) % 997) + 1),
};

/**
 * `n` examples of varied lengths.
 *
 * @param n number of examples
 * @param salt changes the text (a different data fingerprint)
 */
export function tinyDataset(n: number, salt = ""): Promise<TokenizedDataset> {
  const examples = Array.from({ length: n }, (_, i) => ({
    input: `${salt}in${i}:${"abc".repeat(i % 5)}`,
    output: `out ${i * 7} ${"xy".repeat(i % 3)}`,
  }));
  return tokenizeDataset(
    { path: `tiny-${n}${salt}`, format: "jsonl", separator: " ||", examples },
    charTokenizer,
    { maxLen: 40, eosTokenId: 0 },
  );
}

/** The options loop tests start from: a small residual + gate prefix on the tiny datasets. */
export const LOOP_OPTIONS = {
  prefixLen: 2,
  midDim: 8,
  reparam: "residual",
  gate: true,
  lr: 0.05,
  batchSize: 3,
  maxLen: 40,
  seed: 7,
  logEvery: 2,
  evalEvery: 4,
  checkpointEvery: 0,
} as const;
