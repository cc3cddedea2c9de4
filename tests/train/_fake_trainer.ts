/**
 * A CPU stand-in for the WebGPU trainer, implementing the loop's trainer
 * contract exactly (token-loss sums, step = mean over tokens, global-norm
 * clipping, torch-style AdamW, skipped non-finite steps), on a quadratic
 * loss whose target depends on each scored label. Its updates depend on the
 * data order, the schedule and the optimizer state, which is what resume and
 * reproducibility tests need to see.
 */
import {
  type AdamWOptions as StepOptions,
  type OptimizerState as TrainerOptimizerState,
  resolveAdamW,
  type TokenBatch as TrainerBatch,
  type Trainer,
  type TrainerFactory,
} from "../../src/train/mod.ts";
import { PrefixEdgeError } from "../../src/errors/mod.ts";
import type { PrefixModule } from "../../src/prefix/mod.ts";

/** Options of the fake. */
export interface FakeOptions {
  /** Steps (1-based) whose gradient norm is NaN: the update is skipped. */
  nanSteps?: (step: number) => boolean;
  /** Throw from `accumulate` during this 1-based step (simulated crash). */
  crashAtStep?: number;
}

/** What the fake saw, for assertions. */
export interface FakeLog {
  /** Rows of every accumulate call. */
  accumulateRows: number[];
  /** Every row accumulated (ids joined), in order: the data order. */
  rows: string[];
  /** Accumulate calls between consecutive steps. */
  microPerStep: number[];
  /** The lr of every step call. */
  lrs: number[];
  /** Evaluate calls. */
  evaluations: number;
  /** Whether destroy() ran. */
  destroyed: boolean;
}

function target(label: number, i: number): number {
  return (((label * 31 + i * 7) % 17) - 8) * 0.01;
}

/** A factory of fakes sharing one log. */
export function fakeTrainerFactory(
  opts: FakeOptions = {},
): { factory: TrainerFactory; log: FakeLog } {
  const log: FakeLog = {
    accumulateRows: [],
    rows: [],
    microPerStep: [],
    lrs: [],
    evaluations: 0,
    destroyed: false,
  };
  const factory: TrainerFactory = (_model, pm) => Promise.resolve(new FakeTrainer(pm, opts, log));
  return { factory, log };
}

class FakeTrainer implements Trainer {
  #pm: PrefixModule;
  #opts: FakeOptions;
  #log: FakeLog;
  #names: string[];
  // f32 storage, like the GPU trainer, so a checkpoint round-trip is exact.
  #params: Record<string, Float32Array> = {};
  #grad: Record<string, Float64Array> = {};
  #m: Record<string, Float32Array> = {};
  #v: Record<string, Float32Array> = {};
  #tokens = 0;
  #micro = 0;
  #step = 0; // optimizer steps applied
  #calls = 0; // step() calls, skipped included
  #destroyed = false;

  constructor(pm: PrefixModule, opts: FakeOptions, log: FakeLog) {
    this.#pm = pm;
    this.#opts = opts;
    this.#log = log;
    this.#names = Object.keys(pm.params).sort();
    for (const n of this.#names) {
      this.#params[n] = Float32Array.from(pm.params[n]);
      this.#grad[n] = new Float64Array(pm.params[n].length);
      this.#m[n] = new Float32Array(pm.params[n].length);
      this.#v[n] = new Float32Array(pm.params[n].length);
    }
  }

  #lossAndGrad(batch: TrainerBatch, addGrad: boolean): { lossSum: number; tokens: number } {
    const counts = new Map<number, number>();
    let tokens = 0;
    for (const row of batch.labels) {
      for (const l of row) {
        if (l === -100) continue;
        counts.set(l, (counts.get(l) ?? 0) + 1);
        tokens++;
      }
    }
    let lossSum = 0;
    for (const n of this.#names) {
      const p = this.#params[n], g = this.#grad[n];
      for (let i = 0; i < p.length; i++) {
        for (const [label, c] of counts) {
          const d = p[i] - target(label, i);
          lossSum += c * 0.5 * d * d / p.length;
          if (addGrad) g[i] += c * d / p.length;
        }
      }
    }
    return { lossSum, tokens };
  }

  #alive(action: string): void {
    if (this.#destroyed) {
      throw new PrefixEdgeError("INVALID_INPUT", `Cannot ${action}: the trainer was destroyed`);
    }
  }

  accumulate(batch: TrainerBatch): Promise<{ lossSum: number; tokens: number }> {
    this.#alive("accumulate");
    if (this.#opts.crashAtStep === this.#calls + 1) {
      return Promise.reject(new Error(`simulated crash in step ${this.#calls + 1}`));
    }
    this.#log.accumulateRows.push(batch.inputIds.length);
    for (const row of batch.inputIds) this.#log.rows.push(row.join(","));
    this.#micro++;
    const r = this.#lossAndGrad(batch, true);
    this.#tokens += r.tokens;
    return Promise.resolve(r);
  }

  step(o: StepOptions): Promise<{ gradNorm: number; skipped: boolean }> {
    this.#alive("step");
    const hp = resolveAdamW(o, this.#tokens);
    this.#calls++;
    this.#log.microPerStep.push(this.#micro);
    this.#log.lrs.push(o.lr);
    this.#micro = 0;
    const scale = 1 / Math.max(1, this.#tokens);
    this.#tokens = 0;
    let sq = 0;
    for (const n of this.#names) for (const g of this.#grad[n]) sq += (g * scale) ** 2;
    let norm = Math.sqrt(sq);
    if (this.#opts.nanSteps?.(this.#calls)) norm = NaN;
    if (!Number.isFinite(norm)) {
      for (const n of this.#names) this.#grad[n].fill(0);
      return Promise.resolve({ gradNorm: norm, skipped: true });
    }
    const clip = hp.maxGradNorm && norm > hp.maxGradNorm ? hp.maxGradNorm / (norm + 1e-6) : 1;
    const { beta1: b1, beta2: b2, eps, weightDecay: wd } = hp;
    this.#step++;
    const c1 = 1 - b1 ** this.#step, c2 = 1 - b2 ** this.#step;
    for (const n of this.#names) {
      const p = this.#params[n], g = this.#grad[n], m = this.#m[n], v = this.#v[n];
      for (let i = 0; i < p.length; i++) {
        const gi = g[i] * scale * clip;
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        p[i] = p[i] * (1 - o.lr * wd) - o.lr * (m[i] / c1) / (Math.sqrt(v[i] / c2) + eps);
      }
      g.fill(0);
    }
    return Promise.resolve({ gradNorm: norm, skipped: false });
  }

  evaluate(batch: TrainerBatch): Promise<{ lossSum: number; tokens: number }> {
    this.#alive("evaluate");
    this.#log.evaluations++;
    return Promise.resolve(this.#lossAndGrad(batch, false));
  }

  readGrads(): Promise<Record<string, Float32Array>> {
    this.#alive("read gradients");
    const out: Record<string, Float32Array> = {};
    for (const n of this.#names) {
      out[n] = Float32Array.from(this.#grad[n], (g) => g / Math.max(1, this.#tokens));
    }
    return Promise.resolve(out);
  }

  readParams(): Promise<Record<string, Float32Array>> {
    const out: Record<string, Float32Array> = {};
    for (const n of this.#names) {
      out[n] = Float32Array.from(this.#params[n]);
      this.#pm.params[n].set(out[n]);
    }
    return Promise.resolve(out);
  }

  readOptimizerState(): Promise<TrainerOptimizerState> {
    const m: Record<string, Float32Array> = {}, v: Record<string, Float32Array> = {};
    for (const n of this.#names) {
      m[n] = Float32Array.from(this.#m[n]);
      v[n] = Float32Array.from(this.#v[n]);
    }
    return Promise.resolve({ step: this.#step, m, v });
  }

  loadOptimizerState(s: TrainerOptimizerState): Promise<void> {
    this.#step = s.step;
    for (const n of this.#names) {
      this.#m[n] = Float32Array.from(s.m[n]);
      this.#v[n] = Float32Array.from(s.v[n]);
    }
    return Promise.resolve();
  }

  destroy(): void {
    this.#destroyed = true;
    this.#log.destroyed = true;
  }
}
