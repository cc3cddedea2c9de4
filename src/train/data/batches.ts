/**
 * Batching: bucket examples of similar length (less padding, so less wasted
 * compute), shuffle under a seed, and pad rows into a batch.
 *
 * @module
 */
import type { TokenizedExample } from "./example.ts";
import { mixSeed, Rng } from "./rng.ts";
import { IGNORE_INDEX } from "./tokenize_dataset.ts";

/** Right-padded rows for one forward pass; shapes `[B, T]`. */
export interface PaddedBatch {
  /** `[B, T]` token ids, padded with the pad id. */
  inputIds: number[][];
  /** `[B, T]` labels, `-100` on prompt and padding. */
  labels: number[][];
  /** `[B, T]` 1 on real tokens, 0 on padding. */
  attentionMask: number[][];
}

/** Options of {@link planEpoch}. */
export interface EpochPlanOptions {
  /** Rows per batch (the last batch of a pool may be smaller). */
  batchSize: number;
  /** The run's seed. */
  seed: number;
  /** 0-based epoch; each epoch gets its own order, derived from `seed` and `epoch`. */
  epoch: number;
  /** Shuffle (training) or keep a fixed length-sorted order (evaluation). Default true. */
  shuffle?: boolean;
  /**
   * Batches per length bucket. Examples are shuffled, cut into pools of
   * `poolBatches * batchSize`, sorted by length inside each pool, then cut into
   * batches whose order is shuffled again. Default 16.
   */
  poolBatches?: number;
}

/**
 * Plan one epoch: the example indices of each batch, in order.
 *
 * @param lengths each example's token count
 * @param options batch size, seed, epoch
 * @returns batches of example indices; every index appears exactly once
 *
 * @example Plan two epochs
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { planEpoch } from "./batches.ts";
 * const lengths = [5, 9, 3, 7, 4, 8];
 * const e0 = planEpoch(lengths, { batchSize: 2, seed: 1, epoch: 0 });
 * assertEquals(e0.flat().sort().join(), "0,1,2,3,4,5");
 * ```
 */
export function planEpoch(lengths: readonly number[], options: EpochPlanOptions): number[][] {
  const { batchSize } = options;
  const idx = lengths.map((_, i) => i);
  const byLength = (a: number, b: number) => lengths[a] - lengths[b] || a - b;
  if (options.shuffle === false) {
    idx.sort(byLength);
    return chunk(idx, batchSize);
  }
  const rng = new Rng(mixSeed(options.seed, options.epoch));
  rng.shuffle(idx);
  const pool = Math.max(1, options.poolBatches ?? 16) * batchSize;
  const batches: number[][] = [];
  for (let start = 0; start < idx.length; start += pool) {
    const sorted = idx.slice(start, start + pool).sort(byLength);
    batches.push(...chunk(sorted, batchSize));
  }
  return rng.shuffle(batches);
}

function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Pad the chosen examples into one batch (right padding).
 *
 * @param examples the dataset's examples
 * @param indices which ones, in row order
 * @param padId id written into padding (masked out, its value does not matter)
 * @returns `[B, T]` ids, labels and mask with `T` the longest row
 *
 * @example Pad two rows
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { collateBatch } from "./batches.ts";
 * const b = collateBatch(
 *   [{ inputIds: [1, 2, 3], labels: [-100, 2, 3] }, { inputIds: [4], labels: [4] }],
 *   [0, 1],
 *   0,
 * );
 * assertEquals(b.attentionMask, [[1, 1, 1], [1, 0, 0]]);
 * ```
 */
export function collateBatch(
  examples: readonly TokenizedExample[],
  indices: readonly number[],
  padId: number,
): PaddedBatch {
  const rows = indices.map((i) => examples[i]);
  const T = Math.max(...rows.map((r) => r.inputIds.length));
  const pad = <V>(xs: V[], v: V) => [...xs, ...new Array<V>(T - xs.length).fill(v)];
  return {
    inputIds: rows.map((r) => pad(r.inputIds, padId)),
    labels: rows.map((r) => pad(r.labels, IGNORE_INDEX)),
    attentionMask: rows.map((r) => pad(r.inputIds.map(() => 1), 0)),
  };
}
