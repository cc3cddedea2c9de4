/**
 * A small seeded PRNG (mulberry32) so that sampling with a `seed` repeats
 * exactly, independent of the batch a row runs in.
 *
 * @module
 */

/**
 * A seeded uniform generator on [0, 1).
 *
 * @example Same seed, same draws
 * ```ts
 * import { SeededRandom } from "./seeded_random.ts";
 * const a = new SeededRandom(42), b = new SeededRandom(42);
 * console.assert(a.next() === b.next());
 * ```
 */
export class SeededRandom {
  #state: number;

  /**
   * Start a stream of draws.
   *
   * @param seed any integer (taken modulo 2^32)
   */
  constructor(seed: number) {
    this.#state = (Math.trunc(seed) >>> 0) ^ 0x9e3779b9;
  }

  /**
   * Draw the next number.
   *
   * @returns the next draw in [0, 1)
   */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}
