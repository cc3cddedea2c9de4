/**
 * The shape of a training run before it starts: the data checked against the options, how
 * many micro-batches and optimizer steps it takes, and which rows make micro-batch k.
 *
 * @module
 */
import { PrefixEdgeError } from "../../errors/mod.ts";
import { collateBatch, type PaddedBatch, planEpoch } from "../data/batches.ts";
import type { TokenizedDataset } from "../data/tokenize_dataset.ts";
import type { TrainOptions } from "./train_options.ts";

/** A run's batch plan. */
export interface RunPlan {
  /** Longest example over train and dev, in tokens (the trainer's maxLen). */
  longest: number;
  /** Micro-batches per epoch. */
  batchesPerEpoch: number;
  /** Micro-batches of the whole run. */
  totalMicro: number;
  /** Optimizer steps of the whole run. */
  totalSteps: number;
  /** Micro-batch k of the run (epochs reshuffle with the run's seed). */
  microBatch(k: number): PaddedBatch;
  /** The dev set's batches, in file order. */
  devBatches(): PaddedBatch[];
}

/**
 * Check the data and plan the run.
 *
 * @throws {PrefixEdgeError} `DATA_INVALID` for an empty data set, `CONTEXT_OVERFLOW` for an
 *   example longer than `maxLen`
 */
export function planRun(
  options: TrainOptions,
  trainSet: TokenizedDataset,
  devSet: TokenizedDataset | null,
  padId: number,
): RunPlan {
  for (const ds of devSet ? [trainSet, devSet] : [trainSet]) {
    if (ds.examples.length === 0) {
      throw new PrefixEdgeError(
        "DATA_INVALID",
        `Cannot train on ${ds.source}: it holds no examples`,
      );
    }
  }
  const lengths = trainSet.examples.map((e) => e.inputIds.length);
  const devLengths = devSet?.examples.map((e) => e.inputIds.length) ?? [];
  const longest = Math.max(...lengths, ...devLengths);
  if (longest > options.maxLen) {
    throw new PrefixEdgeError(
      "CONTEXT_OVERFLOW",
      `Cannot train: an example has ${longest} tokens but max-len is ${options.maxLen} (tokenize with the same max-len)`,
    );
  }
  const { batchSize, gradAccum, seed } = options;
  const batchesPerEpoch = planEpoch(lengths, { batchSize, seed, epoch: 0 }).length;
  const totalMicro = options.steps !== undefined
    ? options.steps * gradAccum
    : options.epochs * batchesPerEpoch;
  let plan: { epoch: number; batches: number[][] } | null = null;
  return {
    longest,
    batchesPerEpoch,
    totalMicro,
    totalSteps: Math.ceil(totalMicro / gradAccum),
    microBatch(k) {
      const epoch = Math.floor(k / batchesPerEpoch);
      if (plan?.epoch !== epoch) {
        plan = { epoch, batches: planEpoch(lengths, { batchSize, seed, epoch }) };
      }
      return collateBatch(trainSet.examples, plan.batches[k % batchesPerEpoch], padId);
    },
    devBatches() {
      if (!devSet) return [];
      return planEpoch(devLengths, { batchSize, seed, epoch: 0, shuffle: false })
        .map((idx) => collateBatch(devSet.examples, idx, padId));
    },
  };
}
