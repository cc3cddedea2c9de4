/**
 * What a bundle records about how to use its prefix, read off the data it was trained on: the
 * prompt's layout, and generation defaults that fit the task's outputs.
 *
 * @module
 */
import type { BundleGeneration, BundlePrompt } from "../../bundle/mod.ts";
import { IGNORE_INDEX, type TokenizedDataset } from "./tokenize_dataset.ts";

/**
 * The prompt format and the generation defaults of a task.
 *
 * Training prompts are `encode(input + separator)` with the tokenizer's special tokens, and
 * every target ends with EOS; so the defaults are greedy decoding that ends at that EOS, with
 * room for the longest training target and a quarter more.
 *
 * @param data the tokenized training data
 * @returns the manifest's `prompt` and `generation`
 *
 * @example A pet-stories-like dataset
 * ```ts
 * import { deepStrictEqual } from "node:assert";
 * import { taskUsage } from "./task_usage.ts";
 * const data = {
 *   separator: " ||",
 *   exampleInput: "name: Max",
 *   examples: [{ inputIds: [1, 5, 6, 7, 8, 2], labels: [-100, -100, -100, 7, 8, 2] }],
 * };
 * const usage = taskUsage(data);
 * deepStrictEqual(usage.prompt.template, "{input} ||");
 * deepStrictEqual(usage.generation, { temperature: 0, maxNewTokens: 4, stop: [], eosTokenIds: [2] });
 * ```
 */
export function taskUsage(
  data: Pick<TokenizedDataset, "separator" | "examples" | "exampleInput">,
): { prompt: BundlePrompt; generation: BundleGeneration } {
  let longest = 1;
  const eos = new Set<number>();
  for (const ex of data.examples) {
    let n = 0;
    for (const l of ex.labels) if (l !== IGNORE_INDEX) n++;
    longest = Math.max(longest, n);
    const last = ex.inputIds.at(-1);
    if (last !== undefined) eos.add(last);
  }
  return {
    prompt: {
      template: `{input}${data.separator}`,
      separator: data.separator,
      addSpecialTokens: true,
      ...(data.exampleInput !== undefined ? { exampleInput: data.exampleInput } : {}),
    },
    generation: {
      temperature: 0,
      maxNewTokens: Math.ceil(longest * 1.25),
      stop: [],
      eosTokenIds: [...eos].sort((a, b) => a - b),
    },
  };
}
