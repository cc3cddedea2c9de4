/**
 * A small seeded PRNG (mulberry32) with Gaussian and uniform draws, so that a
 * prefix initialized with the same seed is the same on every machine.
 *
 * @module
 */

/** Seeded random numbers: `uniform()` in [0, 1), `normal()` ~ N(0, 1). */
export class SeededRandom {
  #state: number;
  #spare: number | null = null;

  constructor(seed: number) {
    this.#state = (seed >>> 0) ^ 0x9e3779b9;
  }

  /** @returns a float in [0, 1) */
  uniform(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** @returns a standard normal draw (Box-Muller, the spare is kept) */
  normal(): number {
    if (this.#spare !== null) {
      const s = this.#spare;
      this.#spare = null;
      return s;
    }
    const u = Math.max(this.uniform(), 1e-300), v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** @returns `n` draws of N(0, std²) */
  normals(n: number, std: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal() * std;
    return out;
  }

  /** @returns `n` draws of U(-bound, bound) */
  uniforms(n: number, bound: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = (2 * this.uniform() - 1) * bound;
    return out;
  }
}
