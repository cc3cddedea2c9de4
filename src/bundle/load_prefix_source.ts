/**
 * One call that turns whatever a user points at (a `*.prefix.zip` path, a
 * `file:` or `http(s):` URL, or a PEFT adapter folder) into a verified
 * `Prefix` for the engine. CLIs (`generate --bundle`) and servers use it.
 *
 * @module
 */
import { join } from "pathe";
import type { LoadedModel, Prefix } from "../model/mod.ts";
import { BundleError } from "./bundle_error.ts";
import { importPeft } from "./peft.ts";
import { PrefixBundle } from "./prefix_bundle.ts";
import { type TaskUsage, taskUsageOf } from "./task_usage.ts";

/** Options of {@link loadPrefixSource}. */
export interface PrefixSourceOptions {
  /** The base model the prefix must fit (verified). */
  model: LoadedModel;
  /** Size bound for bundles (default: `DEFAULT_BUNDLE_MAX_BYTES`). */
  maxBytes?: number;
}

/**
 * Load a prefix from a bundle or a PEFT adapter folder, verified against the model.
 *
 * @param source bundle path, `file:`/`http(s):` URL, or PEFT adapter folder
 * @param opts the base model and an optional size bound
 * @returns the folded prefix `[P, S]` f32
 * @throws {BundleError} any refusal of {@link PrefixBundle.load} or `importPeft`
 *
 * @example Generate with a bundle
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { loadModel, prefixWidth } from "../model/mod.ts";
 * import { loadPrefixSource, PrefixBundle } from "./mod.ts";
 * const model = await loadModel("models/stories260K");
 * const kv = new Float32Array(2 * prefixWidth(model.config));
 * const method = { reparam: "none" as const, gate: false, midDim: null };
 * const bundle = await PrefixBundle.create({ prefix: { prefixLen: 2, kv }, model, task: "demo", method });
 * const file = await Deno.makeTempFile({ suffix: ".prefix.zip" });
 * await Deno.writeFile(file, await bundle.toBytes());
 * const prefix = await loadPrefixSource(file, { model }); // a bundle, PEFT folder or raw tensor
 * assertEquals(prefix.prefixLen, 2);
 * ```
 */
export async function loadPrefixSource(
  source: string | URL,
  opts: PrefixSourceOptions,
): Promise<Prefix> {
  return (await loadTaskPrefix(source, opts)).prefix;
}

/**
 * Like {@link loadPrefixSource}, with the task's prompt layout and generation defaults as its
 * bundle (or the adapter's `generation_config.json`) records them.
 *
 * @param source a `.prefix.zip` path or URL, or a PEFT adapter folder
 * @param opts the base model to verify against, and the size bound
 * @returns the verified prefix and its usage (empty for bundles that record none)
 * @throws {BundleError} as {@link loadPrefixSource}
 *
 * @example A bundle written before bundles recorded their usage has none
 * ```ts
 * import { deepStrictEqual } from "node:assert";
 * import { loadModel } from "../model/mod.ts";
 * import { loadTaskPrefix } from "./load_prefix_source.ts";
 * const model = await loadModel("models/stories260K");
 * const { prefix, usage } = await loadTaskPrefix(
 *   "tests/fixtures/bundles/pet-stories-0.1.0.prefix.zip",
 *   { model },
 * );
 * deepStrictEqual([prefix.prefixLen, usage], [10, {}]);
 * ```
 */
export async function loadTaskPrefix(
  source: string | URL,
  opts: PrefixSourceOptions,
): Promise<{ prefix: Prefix; usage: TaskUsage }> {
  if (typeof source === "string" && !/^[a-z]+:\/\//i.test(source)) {
    const isAdapterDir = await Deno.stat(join(source, "adapter_config.json")).then(
      (s) => s.isFile,
      () => false,
    );
    if (isAdapterDir) {
      const b = await importPeft(source, { model: opts.model });
      return { prefix: b.prefix, usage: taskUsageOf(b.manifest) };
    }
    if (await Deno.stat(source).then((s) => s.isDirectory, () => false)) {
      throw new BundleError(
        "FILE_NOT_FOUND",
        source,
        `Cannot load a prefix from ${source}: it is a folder without adapter_config.json, so neither a bundle file (*.prefix.zip) nor a PEFT adapter folder`,
      );
    }
  }
  const b = await PrefixBundle.load(source, { model: opts.model, maxBytes: opts.maxBytes });
  return { prefix: b.prefix, usage: taskUsageOf(b.manifest) };
}
