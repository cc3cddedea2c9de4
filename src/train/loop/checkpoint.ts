/**
 * Checkpoints: everything a run needs to continue exactly where it stopped.
 *
 * A checkpoint is a folder with two files:
 * - `state.safetensors`: `param.<name>`, `adam.m.<name>`, `adam.v.<name>` (F32), and
 *   `best.<name>` (the best evaluated prefix's parameters, when a run has one), with the step
 *   in its metadata;
 * - `checkpoint.json`: the {@link CheckpointState} (step, data position, seed,
 *   options, model and data fingerprints, the open log window).
 *
 * The JSON is written last, through a rename, so a crash mid-write leaves
 * the previous checkpoint readable or is caught by the step check.
 *
 * @module
 */
import { runFiles, type RunTarget } from "./run_files.ts";
import { PrefixEdgeError } from "../../errors/mod.ts";
import { encodeSafetensors, SafetensorsFile } from "../../model/mod.ts";
import type { OptimizerState } from "../trainer.ts";
import { IDENTITY_KEYS, type TrainOptions } from "./train_options.ts";

/** Format name written into checkpoint.json. */
export const CHECKPOINT_FORMAT = "prefix-edge.checkpoint";
/** Format version written into checkpoint.json. */
export const CHECKPOINT_VERSION = 1;

/** Sums of the metrics window that was open when the checkpoint was taken. */
export interface LogWindow {
  /** Summed token loss of the finite steps. */
  lossSum: number;
  /** Scored tokens of the finite steps. */
  tokens: number;
  /** Non-padding tokens through the model (for tokens/s). */
  realTokens: number;
  /** Summed pre-clipping gradient norms of the finite steps. */
  gradNormSum: number;
  /** Finite steps. */
  gradNormCount: number;
  /** Skipped (non-finite) steps. */
  skipped: number;
}

/** The JSON half of a checkpoint. */
export interface CheckpointState {
  /** Always {@link CHECKPOINT_FORMAT}. */
  format: typeof CHECKPOINT_FORMAT;
  /** {@link CHECKPOINT_VERSION} when written. */
  version: number;
  /** Optimizer steps done. */
  step: number;
  /** Steps of the whole run. */
  totalSteps: number;
  /** Micro-batches consumed (the data position: epoch = floor(/ batchesPerEpoch)). */
  microBatches: number;
  /** Micro-batches per epoch. */
  batchesPerEpoch: number;
  /** The data order's generator: the run seed and the epoch being read. */
  rng: { seed: number; epoch: number };
  /** The options that shape the run ({@link IDENTITY_KEYS}), as trained. */
  options: Partial<TrainOptions>;
  /** Identity of the base model. */
  model: string;
  /** Fingerprints of the tokenized training and dev data. */
  data: { train: string; dev: string | null };
  /** The metrics window open at the checkpoint. */
  window: LogWindow;
  /** Non-finite steps in a row at the checkpoint. */
  consecutiveBad: number;
  /**
   * The gates `[P]` before the first step, so a resumed run's gates plot
   * still starts at step 0 (absent in checkpoints of older versions).
   */
  initialGates?: number[];
  /** The best evaluated prefix so far (its parameters are `best.<name>`). */
  best?: {
    step: number;
    metric: number | null;
    devLoss: number | null;
    scores: Record<string, number> | null;
  };
  /** Evaluations since the best one (early stopping's count). */
  sinceBest?: number;
  /** True when early stopping ended the run at this checkpoint. */
  stoppedEarly?: boolean;
  /** The dev metric's scores of the base model and of the untrained prefix (step 0). */
  startScores?: { base: Record<string, number>; initial: Record<string, number> };
  /** ISO time of writing. */
  savedAt: string;
}

/** A checkpoint read back. */
export interface Checkpoint {
  /** Position, options and fingerprints. */
  state: CheckpointState;
  /** Prefix-module parameters by name. */
  params: Record<string, Float32Array>;
  /** Adam moments and step count. */
  optimizer: OptimizerState;
  /** The best evaluated prefix's parameters, when `state.best` is set. */
  bestParams?: Record<string, Float32Array>;
}

/**
 * Write a checkpoint folder (created if needed, replaced if present).
 *
 * @param dir the folder, or where it lives in a run's files
 * @param checkpoint state, parameters and optimizer moments
 *
 * @example Save a copy of a run's checkpoint
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { loadModel } from "../../model/mod.ts";
 * import { prepareDataset } from "../data/mod.ts";
 * import { train } from "./train.ts";
 * import { readCheckpoint, writeCheckpoint } from "./checkpoint.ts";
 * const model = await loadModel("tests/fixtures/gpt2-text");
 * const data = await prepareDataset(model, "data/e2e-small/train.csv", { maxLen: 96 });
 * const outDir = await Deno.makeTempDir();
 * await train(model, { train: data }, { outDir, steps: 2, batchSize: 4, maxLen: 96 }, { progress: false });
 * const ckpt = await readCheckpoint(outDir);
 * await writeCheckpoint(`${outDir}/copy`, ckpt);
 * assertEquals(await readCheckpoint(`${outDir}/copy`), ckpt);
 * await Deno.remove(outDir, { recursive: true });
 * ```
 */
export async function writeCheckpoint(dir: RunTarget, checkpoint: Checkpoint): Promise<void> {
  const files = runFiles(dir);
  await files.create();
  const tensors: Parameters<typeof encodeSafetensors>[0] = {};
  const add = (name: string, v: Float32Array) => {
    tensors[name] = { dtype: "F32", shape: [v.length], data: v };
  };
  for (const [n, v] of Object.entries(checkpoint.params)) add(`param.${n}`, v);
  for (const [n, v] of Object.entries(checkpoint.optimizer.m)) add(`adam.m.${n}`, v);
  for (const [n, v] of Object.entries(checkpoint.optimizer.v)) add(`adam.v.${n}`, v);
  for (const [n, v] of Object.entries(checkpoint.bestParams ?? {})) add(`best.${n}`, v);
  const bytes = encodeSafetensors(tensors, {
    step: String(checkpoint.state.step),
    optimizer_step: String(checkpoint.optimizer.step),
  });
  // The state last: a reader that finds checkpoint.json finds the tensors of its step.
  await files.write("state.safetensors", bytes);
  await files.write("checkpoint.json", JSON.stringify(checkpoint.state, null, 1) + "\n");
}

/**
 * Read a checkpoint folder. `path` may be the folder itself or a run's output
 * folder holding `checkpoint/`.
 *
 * @param path checkpoint folder or run folder (a path, or a run's files)
 * @returns the checkpoint
 * @throws {PrefixEdgeError} `FILE_NOT_FOUND` when there is none,
 *   `CHECKPOINT_INVALID` when its files are malformed or disagree
 *
 * @example Load the checkpoint of a run
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { loadModel } from "../../model/mod.ts";
 * import { prepareDataset } from "../data/mod.ts";
 * import { train } from "./train.ts";
 * import { readCheckpoint } from "./checkpoint.ts";
 * const model = await loadModel("tests/fixtures/gpt2-text");
 * const data = await prepareDataset(model, "data/e2e-small/train.csv", { maxLen: 96 });
 * const outDir = await Deno.makeTempDir();
 * await train(model, { train: data }, { outDir, steps: 2, batchSize: 4, maxLen: 96 }, { progress: false });
 * const ckpt = await readCheckpoint(outDir); // the run folder, or its checkpoint/ folder
 * assertEquals([ckpt.state.step, ckpt.optimizer.step], [2, 2]);
 * await Deno.remove(outDir, { recursive: true });
 * ```
 */
export async function readCheckpoint(path: RunTarget): Promise<Checkpoint> {
  const run = runFiles(path);
  let files = run;
  if (!(await run.has("checkpoint.json")) && (await run.has("checkpoint/checkpoint.json"))) {
    files = run.sub("checkpoint");
  }
  const json = await files.read("checkpoint.json");
  if (!json) {
    throw new PrefixEdgeError(
      "FILE_NOT_FOUND",
      `Cannot resume from ${run.name}: no checkpoint.json there or in ${run.pathOf("checkpoint")}`,
    );
  }
  const invalid = (why: string, cause?: unknown): never => {
    throw new PrefixEdgeError("CHECKPOINT_INVALID", `Cannot resume from ${files.name}: ${why}`, {
      cause,
    });
  };
  let state: CheckpointState;
  try {
    state = JSON.parse(new TextDecoder().decode(json));
  } catch (e) {
    return invalid(`checkpoint.json is not valid JSON (${(e as Error).message})`, e);
  }
  if (state?.format !== CHECKPOINT_FORMAT) {
    invalid(`checkpoint.json is not a ${CHECKPOINT_FORMAT} file`);
  }
  if (state.version !== CHECKPOINT_VERSION) {
    invalid(
      `checkpoint version ${state.version} is not supported (expected ${CHECKPOINT_VERSION})`,
    );
  }
  let st: SafetensorsFile;
  try {
    const bytes = await files.read("state.safetensors");
    if (!bytes) throw new Error("no such file");
    st = await SafetensorsFile.fromBytes(bytes, files.pathOf("state.safetensors"));
  } catch (e) {
    return invalid(`state.safetensors cannot be read (${(e as Error).message})`, e);
  }
  try {
    if (st.metadata.step !== String(state.step)) {
      invalid(
        `state.safetensors holds step ${st.metadata.step} but checkpoint.json says ${state.step} (interrupted write?)`,
      );
    }
    const params: Record<string, Float32Array> = {};
    const m: Record<string, Float32Array> = {};
    const v: Record<string, Float32Array> = {};
    const best: Record<string, Float32Array> = {};
    for (const name of st.tensors.keys()) {
      const data = await st.getFloat32(name);
      if (name.startsWith("param.")) params[name.slice(6)] = data;
      else if (name.startsWith("adam.m.")) m[name.slice(7)] = data;
      else if (name.startsWith("adam.v.")) v[name.slice(7)] = data;
      else if (name.startsWith("best.")) best[name.slice(5)] = data;
      else invalid(`state.safetensors holds an unknown tensor "${name}"`);
    }
    for (const n of Object.keys(params)) {
      if (!m[n] || !v[n]) invalid(`state.safetensors lacks the Adam moments of "${n}"`);
    }
    const optimizerStep = Number(st.metadata.optimizer_step);
    if (!Number.isInteger(optimizerStep) || optimizerStep < 0) {
      invalid(`state.safetensors has no valid optimizer_step`);
    }
    if (state.best && Object.keys(best).length !== Object.keys(params).length) {
      invalid(`checkpoint.json names a best prefix but state.safetensors lacks its parameters`);
    }
    return {
      state,
      params,
      optimizer: { step: optimizerStep, m, v },
      ...(state.best ? { bestParams: best } : {}),
    };
  } finally {
    st.close();
  }
}

/**
 * Refuse a checkpoint that belongs to another run: different model, data or
 * options ({@link IDENTITY_KEYS}).
 *
 * @param state the checkpoint's state
 * @param current this run's options and fingerprints
 * @throws {PrefixEdgeError} `CHECKPOINT_MISMATCH` listing every difference
 *
 * @example Check before resuming
 * ```ts
 * import { throws } from "node:assert";
 * import { modelFingerprint } from "../../bundle/mod.ts";
 * import { loadModel } from "../../model/mod.ts";
 * import { prepareDataset } from "../data/mod.ts";
 * import { train } from "./train.ts";
 * import { resolveTrainOptions } from "./train_options.ts";
 * import { checkResumable, readCheckpoint } from "./checkpoint.ts";
 * const model = await loadModel("tests/fixtures/gpt2-text");
 * const ds = await prepareDataset(model, "data/e2e-small/train.csv", { maxLen: 96 });
 * const outDir = await Deno.makeTempDir();
 * const run = { steps: 2, batchSize: 4, maxLen: 96 };
 * await train(model, { train: ds }, { outDir, ...run }, { progress: false });
 * const ckpt = await readCheckpoint(outDir);
 * const options = resolveTrainOptions(run);
 * const current = {
 *   options,
 *   model: (await modelFingerprint(model)).sha256,
 *   data: { train: ds.fingerprint, dev: null },
 * };
 * checkResumable(ckpt.state, current); // the same run: it may resume
 * const other = { ...current, options: { ...options, lr: options.lr * 2 } };
 * throws(() => checkResumable(ckpt.state, other), { code: "CHECKPOINT_MISMATCH" });
 * await Deno.remove(outDir, { recursive: true });
 * ```
 */
export function checkResumable(
  state: CheckpointState,
  current: { options: TrainOptions; model: string; data: { train: string; dev: string | null } },
): void {
  const diffs: string[] = [];
  for (const k of IDENTITY_KEYS) {
    const was = state.options[k], now = current.options[k];
    if (was !== now) diffs.push(`${k} was ${JSON.stringify(was)}, now ${JSON.stringify(now)}`);
  }
  if (state.model !== current.model) diffs.push("the base model differs");
  if (state.data.train !== current.data.train) diffs.push("the training data differs");
  if ((state.data.dev ?? null) !== (current.data.dev ?? null)) diffs.push("the dev data differs");
  if (diffs.length > 0) {
    throw new PrefixEdgeError(
      "CHECKPOINT_MISMATCH",
      `Cannot resume this checkpoint: ${diffs.join("; ")}`,
    );
  }
}

/**
 * The identity subset of the options ({@link IDENTITY_KEYS}), as stored in a checkpoint.
 *
 * @param options complete options
 * @returns the options that must match to resume
 *
 * @example What a checkpoint records
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { identityOptions } from "./checkpoint.ts";
 * import { resolveTrainOptions } from "./train_options.ts";
 * assertEquals(identityOptions(resolveTrainOptions({ steps: 5 })).steps, 5);
 * ```
 */
export function identityOptions(options: TrainOptions): Partial<TrainOptions> {
  const out: Record<string, unknown> = {};
  for (const k of IDENTITY_KEYS) if (options[k] !== undefined) out[k] = options[k];
  return out as Partial<TrainOptions>;
}
