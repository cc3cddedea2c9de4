/**
 * Training options, their defaults and their checks.
 *
 * Defaults follow Li & Liang's E2E setup (P = 10, MLP width 512, lr 8e-5,
 * batch 10, 5 epochs, no warmup, no weight decay) with this project's method
 * switched on: `reparam: "residual"` and a per-token gate.
 *
 * @module
 */
import { PrefixEdgeError } from "../../errors/mod.ts";
import type { ModelConfig } from "../../model/mod.ts";
import { type Reparam, REPARAMS } from "../../prefix/mod.ts";

/** Everything that shapes a training run. */
export interface TrainOptions {
  /** P: virtual prefix tokens. */
  prefixLen: number;
  /** Reparameterization of the prefix module. */
  reparam: Reparam;
  /** Learned per-token gate. */
  gate: boolean;
  /** Hidden width of the reparameterization MLP. */
  midDim: number;
  /** Peak learning rate. */
  lr: number;
  /** Passes over the training data (used when `steps` is absent). */
  epochs: number;
  /** Optimizer steps; overrides `epochs` when set. */
  steps?: number;
  /** Rows per micro-batch (one forward/backward). */
  batchSize: number;
  /** Micro-batches per optimizer step (effective batch = `batchSize * gradAccum`). */
  gradAccum: number;
  /** Longest example kept, in tokens; `prefixLen + maxLen` must fit the model's positions. */
  maxLen: number;
  /** Linear warmup steps before the linear decay to 0. */
  warmupSteps: number;
  /** AdamW decoupled weight decay. */
  weightDecay: number;
  /** Global gradient-norm clipping (0 = off). */
  maxGradNorm: number;
  /** Seed of the prefix init and of the data order. */
  seed: number;
  /** Write a metrics line every this many optimizer steps. */
  logEvery: number;
  /** Dev loss (and, with a dev metric, generations) every this many steps (0 = only at the end). */
  evalEvery: number;
  /**
   * Early stopping: stop after this many evaluations in a row without a better prefix
   * (a higher dev metric, or the same and a lower dev loss); 0 = never stop early.
   */
  patience: number;
  /** Checkpoint every this many steps (0 = only at the end). */
  checkpointEvery: number;
  /** Consecutive non-finite steps tolerated before stopping with `TRAINING_DIVERGED`. */
  maxBadSteps: number;
}

/** The defaults (Li & Liang's E2E setup, residual reparameterization + gate). */
export const DEFAULT_TRAIN_OPTIONS: Readonly<TrainOptions> = Object.freeze({
  prefixLen: 10,
  reparam: "residual",
  gate: true,
  midDim: 512,
  lr: 8e-5,
  epochs: 5,
  batchSize: 10,
  gradAccum: 1,
  maxLen: 512,
  warmupSteps: 0,
  weightDecay: 0,
  maxGradNorm: 1,
  seed: 42,
  logEvery: 10,
  evalEvery: 100,
  patience: 0,
  checkpointEvery: 200,
  maxBadSteps: 5,
});

/**
 * The options that change what a run computes. A checkpoint only resumes a
 * run whose values for these match; logging and checkpoint intervals may differ.
 */
export const IDENTITY_KEYS = [
  "prefixLen",
  "reparam",
  "gate",
  "midDim",
  "lr",
  "epochs",
  "steps",
  "batchSize",
  "gradAccum",
  "maxLen",
  "warmupSteps",
  "weightDecay",
  "maxGradNorm",
  "seed",
] as const satisfies readonly (keyof TrainOptions)[];

/**
 * Check that a prefix and the longest example fit the model's context.
 *
 * @param config the base model's config
 * @param prefixLen P
 * @param maxLen longest example in tokens
 * @throws {PrefixEdgeError} `PREFIX_MISMATCH` when P alone fills the context,
 *   `CONTEXT_OVERFLOW` when `P + maxLen` exceeds it
 *
 * @example A prefix that leaves room
 * ```ts
 * import { throws } from "node:assert";
 * import { loadModel } from "../../model/mod.ts";
 * import { checkContext } from "./train_options.ts";
 * const model = await loadModel("tests/fixtures/gpt2-text"); // 128 positions
 * checkContext(model.config, 10, 96); // 10 + 96 <= 128
 * throws(() => checkContext(model.config, 10, 128), { code: "CONTEXT_OVERFLOW" });
 * ```
 */
export function checkContext(config: ModelConfig, prefixLen: number, maxLen: number): void {
  if (prefixLen >= config.maxPositions) {
    throw new PrefixEdgeError(
      "PREFIX_MISMATCH",
      `Cannot train a prefix of ${prefixLen} tokens: the model has only ${config.maxPositions} positions and the prefix must leave room for text`,
    );
  }
  if (prefixLen + maxLen > config.maxPositions) {
    throw new PrefixEdgeError(
      "CONTEXT_OVERFLOW",
      `Cannot fit examples of ${maxLen} tokens after a ${prefixLen}-token prefix: the model has ${config.maxPositions} positions (use --max-len ${
        config.maxPositions - prefixLen
      } or less)`,
    );
  }
}

/**
 * Fill defaults and check every value.
 *
 * @param options partial options
 * @param naming how messages name an option (default: its key, e.g.
 *   `prefixLen`; the CLI passes its flag names, e.g. `--prefix-len`)
 * @returns complete options
 * @throws {PrefixEdgeError} `INVALID_INPUT` naming the first bad value
 *
 * @example Defaults with a shorter run
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { resolveTrainOptions } from "./train_options.ts";
 * const o = resolveTrainOptions({ steps: 20, batchSize: 4 });
 * assertEquals([o.prefixLen, o.reparam, o.gate], [10, "residual", true]);
 * ```
 */
export function resolveTrainOptions(
  options: Partial<TrainOptions> = {},
  naming: { name?: (key: keyof TrainOptions) => string } = {},
): TrainOptions {
  const name = naming.name ?? ((k: keyof TrainOptions) => k);
  const defined = Object.fromEntries(
    Object.entries(options).filter(([, v]) => v !== undefined),
  ) as Partial<TrainOptions>;
  const o: TrainOptions = { ...DEFAULT_TRAIN_OPTIONS, ...defined };
  const bad = (why: string): never => {
    throw new PrefixEdgeError("INVALID_INPUT", `Cannot train: ${why}`);
  };
  const posInt = (k: keyof TrainOptions, min = 1) => {
    const v = o[k];
    if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
      bad(`${name(k)} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    }
  };
  const nonNeg = (k: keyof TrainOptions) => {
    const v = o[k];
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
      bad(`${name(k)} must be a number >= 0, got ${JSON.stringify(v)}`);
    }
  };
  posInt("prefixLen");
  if (!(REPARAMS as readonly string[]).includes(o.reparam)) {
    bad(`${name("reparam")} must be none, mlp or residual, got ${JSON.stringify(o.reparam)}`);
  }
  if (typeof o.gate !== "boolean") bad(`${name("gate")} must be true or false`);
  posInt("midDim");
  if (!(o.lr > 0) || !Number.isFinite(o.lr)) {
    bad(`${name("lr")} must be a positive number, got ${o.lr}`);
  }
  if (o.steps === undefined) posInt("epochs");
  else posInt("steps");
  posInt("batchSize");
  posInt("gradAccum");
  posInt("maxLen", 2);
  posInt("warmupSteps", 0);
  nonNeg("weightDecay");
  nonNeg("maxGradNorm");
  posInt("seed", 0);
  posInt("logEvery");
  posInt("evalEvery", 0);
  posInt("patience", 0);
  posInt("checkpointEvery", 0);
  posInt("maxBadSteps");
  return o;
}
