/**
 * The one place a finished run turns into a shippable file: a prefix bundle
 * (src/bundle) holding the folded keys and values.
 *
 * @module
 */
import { runFiles, type RunTarget } from "./loop/run_files.ts";
import {
  type BundleDtype,
  type BundleGeneration,
  type BundlePrompt,
  PrefixBundle,
  validateTaskName,
} from "../bundle/mod.ts";
import { type LoadedModel, validatePrefix } from "../model/mod.ts";
import type { PrefixModule } from "../prefix/mod.ts";

/** What a bundle records about how its prefix was trained. */
export interface TrainingFacts {
  /** Training data file. */
  data: string;
  /** Adapter that read it (`jsonl`, `e2e`, `sst2`, ...). */
  dataFormat: string;
  /** Fingerprint of the tokenized training data. */
  dataFingerprint: string;
  /** Text between input and output; prompts at inference must end with it. */
  separator: string;
  /** Optimizer steps run. */
  steps: number;
  /** Epochs run (fractional). */
  epochs: number;
  /** Last logged train loss. */
  finalLoss: number | null;
  /** Last dev loss, if there was dev data. */
  devLoss: number | null;
  /** Hyperparameters. */
  hyperparameters: Record<string, unknown>;
  /** Name of the metrics file beside the export. */
  metrics: string;
}

/** Input of {@link exportPrefix}. */
export interface ExportPrefixInput {
  /** Run output folder. */
  outDir: RunTarget;
  /** Task name recorded with the prefix. */
  taskName: string;
  /** The base model. */
  model: LoadedModel;
  /** The trained module (its `params` up to date). */
  prefixModule: PrefixModule;
  /** How it was trained. */
  training: TrainingFacts;
  /** Stored dtype of the keys/values (default `F16`). */
  dtype?: BundleDtype;
  /** How the prefix was trained to be prompted (`taskUsage`). */
  prompt?: BundlePrompt;
  /** Generation defaults for the task (`taskUsage`). */
  generation?: BundleGeneration;
  /** Dev scores of the exported prefix, recorded under `training.metrics`. */
  scores?: Record<string, number> | null;
}

/** Where the export went. */
export interface ExportedPrefix {
  /** The main file written. */
  path: string;
  /** `bundle`: a verified `.prefix.zip` (the only kind written now). */
  kind: "bundle";
}

/**
 * Fold the trained module and write it as a prefix bundle,
 * `<outDir>/<taskName>.prefix.zip` (docs/bundle-format.md): the folded
 * `g * R` keys/values, the base-model fingerprint, the method with the final
 * gates, and the training facts.
 *
 * @param input output folder, task name, model, module, training facts and
 *   the stored dtype (default `F16`, the bundle writer's default)
 * @returns the written file
 * @throws {PrefixEdgeError} `INVALID_INPUT` for a task name that
 *   `validateTaskName` refuses; `INVALID_INPUT` / `PREFIX_MISMATCH` when the folded
 *   prefix holds NaN/Inf or does not fit the model; `BUNDLE_NONFINITE` when a
 *   value is beyond the F16 range
 *
 * @example Export after training
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { PrefixBundle } from "../bundle/mod.ts";
 * import { loadModel } from "../model/mod.ts";
 * import { PrefixModule } from "../prefix/mod.ts";
 * import { exportPrefix } from "./export_prefix.ts";
 * import { trainSteps } from "./train_steps.ts";
 * const model = await loadModel("tests/fixtures/gpt2-text");
 * const pm = PrefixModule.init(model.config, { prefixLen: 4, reparam: "residual", gate: true, midDim: 16 });
 * const batch = { inputIds: [[5, 6, 7, 8]], labels: [[-100, -100, 7, 8]] };
 * const { losses } = await trainSteps(model, pm, batch, { steps: 3, lr: 1e-2 });
 * const training = {
 *   data: "inline", dataFormat: "jsonl", dataFingerprint: "-", separator: " ||",
 *   steps: 3, epochs: 3, finalLoss: losses.at(-1)!, devLoss: null,
 *   hyperparameters: { lr: 1e-2 }, metrics: "metrics.jsonl",
 * };
 * const outDir = await Deno.makeTempDir();
 * const { path } = await exportPrefix({ outDir, taskName: "e2e", model, prefixModule: pm, training });
 * const bundle = await PrefixBundle.load(path, { model }); // <outDir>/e2e.prefix.zip, verified
 * assertEquals([bundle.manifest.task, bundle.prefix.prefixLen], ["e2e", 4]);
 * await Deno.remove(outDir, { recursive: true });
 * ```
 */
export async function exportPrefix(input: ExportPrefixInput): Promise<ExportedPrefix> {
  const { model, prefixModule: pm, training } = input;
  validateTaskName(input.taskName);
  const prefix = pm.fold();
  validatePrefix(model.config, prefix, `the trained prefix of task "${input.taskName}"`);
  const metrics: Record<string, number> = {};
  if (training.devLoss !== null) metrics.devLoss = training.devLoss;
  if (training.finalLoss !== null) metrics.trainLoss = training.finalLoss;
  for (const [k, v] of Object.entries(input.scores ?? {})) metrics[k] = v;
  const bundle = await PrefixBundle.create({
    prefix,
    model,
    task: input.taskName,
    method: {
      reparam: pm.options.reparam,
      gate: pm.options.gate,
      midDim: pm.options.reparam === "none" ? null : pm.options.midDim,
      ...(pm.options.gate ? { gates: Array.from(pm.gates()) } : {}),
    },
    training: {
      ...training,
      finalLoss: training.finalLoss ?? undefined,
      metrics,
    },
    ...(input.prompt ? { prompt: input.prompt } : {}),
    ...(input.generation ? { generation: input.generation } : {}),
  });
  const run = runFiles(input.outDir);
  const file = `${input.taskName}.prefix.zip`;
  await run.write(file, await bundle.toBytes({ dtype: input.dtype ?? "F16" }));
  return { path: run.pathOf(file), kind: "bundle" };
}
