/**
 * One call from a data file to a tokenized dataset for a given base model.
 *
 * @module
 */
import { endOfOutputToken, type LoadedModel } from "../../model/mod.ts";
import { type DataFormat, loadExamples } from "./load_examples.ts";
import { tokenizeDataset, type TokenizedDataset } from "./tokenize_dataset.ts";

/**
 * Read a data file with its adapter and tokenize it with the model's tokenizer.
 *
 * @param model the base model (must have a tokenizer)
 * @param path the data file (`.jsonl`, E2E `.csv`, GLUE `.tsv`)
 * @param options `maxLen` (longest example kept) and an optional `format`
 * @returns the tokenized dataset
 * @throws {PrefixEdgeError} `TOKENIZER_MISSING` when the model has no
 *   tokenizer, `CONFIG_INVALID` when it defines no EOS, `FILE_NOT_FOUND`,
 *   `DATA_INVALID` (malformed line, empty file, nothing fits `maxLen`)
 *
 * @example Tokenize the embedded E2E subset for gpt2-text
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { loadModel } from "../../model/mod.ts";
 * import { prepareDataset } from "./prepare_dataset.ts";
 * const model = await loadModel("tests/fixtures/gpt2-text");
 * const ds = await prepareDataset(model, "data/e2e-small/train.csv", { maxLen: 128 });
 * assertEquals([ds.format, ds.examples.length, ds.dropped, ds.targetTokens], ["e2e", 232, 68, 9870]);
 * ```
 */
export async function prepareDataset(
  model: LoadedModel,
  path: string,
  options: { maxLen: number; format?: DataFormat },
): Promise<TokenizedDataset> {
  const tokenizer = model.requireTokenizer();
  // Every target ends with the token the model can say to end a document (usually its EOS).
  const eosTokenId = (await endOfOutputToken(model)).id;
  const loaded = await loadExamples(path, options.format);
  return await tokenizeDataset(loaded, tokenizer, { maxLen: options.maxLen, eosTokenId });
}
