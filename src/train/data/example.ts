/**
 * The two shapes a training example takes: text (what the data files hold)
 * and tokens (what the trainer consumes).
 *
 * @module
 */

/** One `input -> output` pair, as read from JSONL, E2E CSV or GLUE TSV. */
export interface TextExample {
  /** The conditioning text (its tokens get label -100). */
  input: string;
  /** The target text (its tokens and the closing EOS are scored). */
  output: string;
}

/**
 * One tokenized example. `labels` is aligned with `inputIds` (Hugging Face
 * convention: the model shifts internally), `-100` where no loss is counted.
 */
export interface TokenizedExample {
  /** `[T]` token ids: input, separator, output, EOS. */
  inputIds: number[];
  /** `[T]`: `-100` over input and separator, the token id over output and EOS. */
  labels: number[];
}
