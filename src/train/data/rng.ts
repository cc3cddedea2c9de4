/**
 * A small seeded random generator (mulberry32) whose whole state is one
 * 32-bit integer, so a checkpoint can store it and a run can reproduce its
 * data order exactly under `--seed`.
 *
 * @module
 */

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
 * import { mixSeed, Rng } from "./rng.ts";
 * const rng = new Rng(mixSeed(42, 3));
 * ```
 */
export function mixSeed(a: number, b: number): number {
  let h = (Math.imul(a | 0, 0x9e3779b1) ^ (b | 0)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * A seeded generator of uniform floats in `[0, 1)`.
 *
 * @example Shuffle reproducibly
 * ```ts
 * import { Rng } from "./rng.ts";
 * const a = new Rng(42).shuffle([1, 2, 3, 4, 5]);
 * const b = new Rng(42).shuffle([1, 2, 3, 4, 5]);
 * console.log(a.join() === b.join()); // true
 * ```
 */
export class Rng {
  #state: number;

  /**
   * Start a sequence.
   *
   * @param seed any integer; equal seeds give equal sequences
   */
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** The current state; `new Rng(rng.state)` continues the same sequence. */
  get state(): number {
    return this.#state;
  }

  /**
   * Draw a float.
   *
   * @returns the next float in `[0, 1)`
   */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /**
   * Draw an integer.
   *
   * @param n exclusive upper bound
   * @returns an integer in `[0, n)`
   */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /**
   * Fisher-Yates shuffle in place.
   *
   * @param items the array to shuffle
   * @returns the same array
   */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }
}
