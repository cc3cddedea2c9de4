/**
 * The project's one seeded random generator (mulberry32): prefix initialization, sampling with a
 * `seed`, and data shuffling all draw from it, so that a seed repeats a run on any runtime.
 * Its whole state is one 32-bit number, which checkpoints store.
 *
 * @module
 */

/** The golden-ratio constant mixed into seeds, so that seed 0 does not start at state 0. */
const SEED_MIX = 0x9e3779b9;

/**
 * A small, fast generator with uniform, integer, shuffle and Gaussian draws.
 *
 * @example Draw repeatably
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { SeededRandom } from "./seeded_random.ts";
 * const a = new SeededRandom(7), b = new SeededRandom(7);
 * assertEquals(a.next() === b.next(), true);
 * const again = SeededRandom.fromState(a.state);
 * assertEquals(again.next() === a.next(), true);
 * ```
 */
export class SeededRandom {
  #state: number;
  #spare: number | null = null;

  /**
   * Start a stream of draws.
   *
   * @param seed any integer (taken modulo 2^32); equal seeds give equal streams
   */
  constructor(seed: number) {
    this.#state = ((Math.trunc(seed) >>> 0) ^ SEED_MIX) >>> 0;
  }

  /**
   * Continue from a saved {@link state}.
   *
   * @param state a value of `state`
   * @returns a generator that draws what the saved one would have drawn next
   */
  static fromState(state: number): SeededRandom {
    return new SeededRandom(((state >>> 0) ^ SEED_MIX) >>> 0);
  }

  /** The current state; {@link fromState} continues the same stream. */
  get state(): number {
    return this.#state;
  }

  /**
   * Draw a float.
   *
   * @returns the next float in `[0, 1)`
   */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
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

  /**
   * Draw from the standard normal (Box-Muller; the spare draw is kept for the next call).
   *
   * @returns a standard normal draw
   */
  normal(): number {
    if (this.#spare !== null) {
      const s = this.#spare;
      this.#spare = null;
      return s;
    }
    const u = Math.max(this.next(), 1e-300), v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /**
   * Draw Gaussian noise.
   *
   * @param n how many
   * @param std standard deviation
   * @returns `n` draws of N(0, std²)
   */
  normals(n: number, std: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal() * std;
    return out;
  }

  /**
   * Draw uniform noise.
   *
   * @param n how many
   * @param bound half-width
   * @returns `n` draws of U(-bound, bound)
   */
  uniforms(n: number, bound: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = (2 * this.next() - 1) * bound;
    return out;
  }
}
