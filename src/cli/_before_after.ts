/**
 * What a trained prefix changed, shown the way a person checks it: for a few held-out
 * inputs, the base model's greedy continuation next to the one with the prefix.
 *
 * @module
 */
import { InferenceEngine } from "../infer/mod.ts";
import { type BundleGeneration, taskEosTokenIds } from "../bundle/mod.ts";
import type { LoadedModel, Prefix } from "../model/mod.ts";
import type { TextExample } from "../train/mod.ts";

/** One held-out input and the two continuations. */
export interface BeforeAfter {
  /** The prompt as given to the model (input + separator). */
  prompt: string;
  /** Greedy text of the frozen base model alone. */
  before: string;
  /** Greedy text with the trained prefix. */
  after: string;
}

/**
 * Generate greedily for `examples` without and with `prefix`, all rows in one batch.
 *
 * @param model the base model (needs its ONNX export and tokenizer)
 * @param examples held-out inputs
 * @param separator the text the training data put between input and output
 * @param prefix the trained, folded prefix
 * @param generation the task's generation defaults (length, and the tokens its outputs end
 *   with); without them, 64 tokens ended by the engine's EOS
 * @returns one entry per example
 */
export async function beforeAfter(
  model: LoadedModel,
  examples: TextExample[],
  separator: string,
  prefix: Prefix,
  generation?: BundleGeneration,
): Promise<BeforeAfter[]> {
  const engine = await InferenceEngine.create(model);
  try {
    const prompts = examples.map((e) => e.input + separator);
    const maxNewTokens = generation?.maxNewTokens ?? 64;
    const eosTokenIds = taskEosTokenIds(generation?.eosTokenIds, engine.eosTokenIds);
    const rows = prompts.flatMap((prompt) => [
      { prompt, maxNewTokens },
      { prompt, maxNewTokens, prefix, eosTokenIds },
    ]);
    const results = await Promise.all(engine.generateBatch(rows).map((s) => s.result));
    return prompts.map((prompt, i) => ({
      prompt,
      before: results[2 * i].text,
      after: results[2 * i + 1].text,
    }));
  } finally {
    await engine.dispose();
  }
}

/** Print the comparisons, one block per input, continuations on one line each. */
export function formatBeforeAfter(samples: BeforeAfter[]): string {
  const line = (s: string) => s.replace(/\s+/g, " ").trim() || "(nothing)";
  return samples.map((s) =>
    [`input:  ${line(s.prompt)}`, `before: ${line(s.before)}`, `after:  ${line(s.after)}`].join(
      "\n",
    )
  ).join("\n\n");
}
