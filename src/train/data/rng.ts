/**
 * The data order's generator: the project's one {@link SeededRandom}, seeded so
 * that its state is the seed itself (a checkpoint stores it and `new Rng(state)`
 * continues the same order under `--seed`).
 *
 * @module
 */
import { SeededRandom } from "../../model/mod.ts";

/**
 * Mix two integers into a well-spread 32-bit seed (murmur3's finalizer), e.g.
 * the run's seed and an epoch number.
 *
 * @param a first integer
 * @param b second integer
 * @returns an unsigned 32-bit seed
 *
 * @example Seed of epoch 3
 * ```ts
 * import { deepStrictEqual as assertEquals, notDeepStrictEqual } from "node:assert";
 * import { mixSeed, Rng } from "./rng.ts";
 * const draw = (seed: number) => {
 *   const rng = new Rng(seed);
 *   return [rng.next(), rng.next(), rng.next()];
 * };
 * assertEquals(draw(mixSeed(42, 3)), draw(mixSeed(42, 3))); // the same epoch, the same order
 * notDeepStrictEqual(mixSeed(42, 3), mixSeed(42, 4));
 * ```
 */
export function mixSeed(a: number, b: number): number {
  let h = (Math.imul(a | 0, 0x9e3779b1) ^ (b | 0)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * A {@link SeededRandom} whose state starts at the seed, so `new Rng(rng.state)` continues a stream.
 *
 * @example Shuffle reproducibly
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { Rng } from "./rng.ts";
 * const a = new Rng(42).shuffle([1, 2, 3, 4, 5]);
 * const b = new Rng(42).shuffle([1, 2, 3, 4, 5]);
 * assertEquals(a.join() === b.join(), true);
 * ```
 */
export class Rng extends SeededRandom {
  /**
   * Start a sequence.
   *
   * @param seed any integer; equal seeds give equal sequences (the state starts at it)
   */
  constructor(seed: number) {
    // SeededRandom mixes its seed; undo the mix so that the state is the seed itself.
    super(((seed >>> 0) ^ 0x9e3779b9) >>> 0);
  }
}
