/**
 * Using a bundle the way its prefix was trained: its task's prompt layout and generation
 * defaults (`manifest.prompt`, `manifest.generation`). Servers, `generate` and `eval` apply
 * them; bundles written before they were recorded have neither and are used as given.
 *
 * @module
 */
import type { BundleGeneration, BundleManifest, BundlePrompt } from "./manifest.ts";

/** A task's prompt layout and generation defaults, as a bundle records them. */
export interface TaskUsage {
  /** How the prefix was trained to be prompted. */
  prompt?: BundlePrompt;
  /** Generation defaults that suit the task. */
  generation?: BundleGeneration;
}

/**
 * The prompt layout and generation defaults a manifest records (either may be absent).
 *
 * @param manifest a bundle's manifest
 * @returns its usage
 *
 * @example An older bundle records neither
 * ```ts
 * import { deepStrictEqual } from "node:assert";
 * import { taskUsageOf } from "./task_usage.ts";
 * deepStrictEqual(taskUsageOf({}), {});
 * ```
 */
export function taskUsageOf(manifest: Partial<BundleManifest>): TaskUsage {
  return {
    ...(manifest.prompt ? { prompt: manifest.prompt } : {}),
    ...(manifest.generation ? { generation: manifest.generation } : {}),
  };
}

/**
 * Lay a task's input out as its prefix was trained to see it: `template` with `{input}`
 * replaced, unless the text already ends with the separator (it is then a prompt already).
 * Without a recorded layout the text is returned as it is.
 *
 * @param text the task's input, or a prompt
 * @param prompt the bundle's prompt layout
 * @returns the prompt to generate from
 *
 * @example The separator is appended once
 * ```ts
 * import { strictEqual } from "node:assert";
 * import { formatTaskPrompt } from "./task_usage.ts";
 * const layout = { template: "{input} ||", separator: " ||", addSpecialTokens: true };
 * strictEqual(formatTaskPrompt("name: Max", layout), "name: Max ||");
 * strictEqual(formatTaskPrompt("name: Max ||", layout), "name: Max ||");
 * strictEqual(formatTaskPrompt("name: Max\n", layout), "name: Max ||");
 * ```
 */
export function formatTaskPrompt(text: string, prompt: BundlePrompt | undefined): string {
  if (!prompt) return text;
  const sep = prompt.separator;
  if (sep !== "" && text.endsWith(sep)) return text;
  const trimmed = text.trimEnd();
  if (sep.trim() !== "" && trimmed.endsWith(sep.trim())) {
    // "input||" or "input ||  ": the separator is there; keep what training saw before it.
    return trimmed.slice(0, trimmed.length - sep.trim().length).trimEnd() + sep;
  }
  return prompt.template.replace("{input}", trimmed);
}

/**
 * The tokens that end a task's outputs: the bundle's, then the engine's own EOS ids.
 *
 * @param taskIds the bundle's `generation.eosTokenIds` (absent in older bundles)
 * @param engineEos the engine's default EOS ids
 * @returns the ids, each once
 *
 * @example stories260K's outputs end with BOS
 * ```ts
 * import { deepStrictEqual } from "node:assert";
 * import { taskEosTokenIds } from "./task_usage.ts";
 * deepStrictEqual(taskEosTokenIds([1], [2]), [1, 2]);
 * ```
 */
export function taskEosTokenIds(
  taskIds: readonly number[] | undefined,
  engineEos: readonly number[],
): number[] {
  return [...new Set([...(taskIds ?? []), ...engineEos])];
}
