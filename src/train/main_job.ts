/**
 * The main job: the embedded stories260K learns to tell a short story from a record
 * (data/pet-stories). `deno task train` with no arguments runs it, and the browser playground
 * trains it in a tab, with the same settings from here.
 *
 * @module
 */
import type { TrainOptions } from "./loop/mod.ts";

/** The main job's model and data, relative to the repository (or to `dist/web/assets/`). */
export const MAIN_JOB_FILES = {
  model: "models/stories260K",
  train: "data/pet-stories/train.jsonl",
  dev: "data/pet-stories/dev.jsonl",
  slots: "data/pet-stories/slots.json",
} as const;

/** Stop after this many evaluations in a row without a better prefix. */
export const MAIN_JOB_PATIENCE = 5;

/**
 * The main job's settings (any flag overrides them): a 64-wide model learns a prefix in a few
 * hundred steps at a much higher rate than the GPT-2-medium rate of Li & Liang, and finishes in a
 * few minutes on two CPU cores.
 */
export const MAIN_JOB_OPTIONS: Readonly<Partial<TrainOptions>> = Object.freeze({
  prefixLen: 20,
  steps: 1500,
  lr: 1e-2,
  batchSize: 8,
  maxLen: 160,
  warmupSteps: 20,
  evalEvery: 100,
  patience: MAIN_JOB_PATIENCE,
  checkpointEvery: 500,
});
