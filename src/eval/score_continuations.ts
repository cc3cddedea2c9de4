/**
 * Classification with a decoder: score each label's verbalizer continuation
 * by its log-likelihood after the prompt (and the task's prefix), predict the
 * best. All candidates of several inputs go through one batched forward pass
 * (rows right-padded and masked), as many as fit a logits budget.
 *
 * @module
 */
import type { InferenceEngine } from "../infer/mod.ts";
import type { Prefix } from "../model/mod.ts";
import { PrefixEdgeError } from "../errors/mod.ts";

/** One input to score: its prompt and the candidate continuations, as token ids. */
export interface ContinuationRow {
  /** Prompt ids (what the prefix conditions on). */
  prompt: readonly number[];
  /** Candidate continuations `[K][*]` (each non-empty), e.g. " positive" + EOS. */
  candidates: readonly (readonly number[])[];
}

/** Options of {@link scoreContinuations}. */
export interface ScoreContinuationsOptions {
  /** The task's prefix, or `null` for the base model. */
  prefix: Prefix | null;
  /**
   * Most logits one forward pass may return, in floats (rows x tokens x
   * vocabulary; default 2^25, 128 MiB). Inputs are packed into passes up to it.
   */
  maxLogits?: number;
  /** Called after each forward pass with the inputs scored so far. */
  onProgress?: (done: number) => void;
}

/**
 * Sum of log-probabilities of each candidate continuation after its prompt.
 *
 * @param engine the inference engine (its `logits`)
 * @param rows inputs with their candidates
 * @param options the prefix, a logits budget, a progress callback
 * @returns `[N][K]` log-likelihoods (nats)
 * @throws {PrefixEdgeError} `INVALID_INPUT` for an empty prompt or candidate;
 *   the engine's errors (`CONTEXT_OVERFLOW`, `TOKEN_OUT_OF_RANGE`, ...)
 *
 * @example Score " time" against " dog" after "Once upon a"
 * ```ts
 * import { ok } from "node:assert";
 * import { InferenceEngine } from "../infer/mod.ts";
 * import { loadModel } from "../model/mod.ts";
 * import { scoreContinuations } from "./score_continuations.ts";
 * const model = await loadModel("models/stories260K");
 * const engine = await InferenceEngine.create(model, { executionProvider: "wasm" });
 * const tok = engine.tokenizer!;
 * const prompt = tok.encode("Once upon a");
 * // A continuation's ids as the whole text tokenizes (SentencePiece merges the space).
 * const after = (text: string) => tok.encode(`Once upon a${text}`).slice(prompt.length);
 * const rows = [{ prompt, candidates: [after(" time"), after(" dog")] }];
 * const [[time, dog]] = await scoreContinuations(engine, rows, { prefix: null });
 * ok(dog < time && time < 0, `log-likelihoods (nats): ${time}, ${dog}`);
 * await engine.dispose();
 * ```
 */
export async function scoreContinuations(
  engine: Pick<InferenceEngine, "logits" | "config">,
  rows: readonly ContinuationRow[],
  options: ScoreContinuationsOptions,
): Promise<number[][]> {
  rows.forEach((r, i) => {
    if (r.prompt.length === 0) {
      throw new PrefixEdgeError("INVALID_INPUT", `Cannot score input ${i}: its prompt is empty`);
    }
    if (r.candidates.length === 0 || r.candidates.some((c) => c.length === 0)) {
      throw new PrefixEdgeError(
        "INVALID_INPUT",
        `Cannot score input ${i}: it needs at least one candidate, each non-empty`,
      );
    }
  });
  const budget = options.maxLogits ?? 2 ** 25;
  const V = engine.config.vocabSize;
  const out: number[][] = rows.map((r) => new Array(r.candidates.length).fill(0));
  let start = 0;
  while (start < rows.length) {
    // Pack whole inputs (all their candidates) while the logits fit the budget.
    let end = start, width = 0, count = 0;
    while (end < rows.length) {
      const r = rows[end];
      const w = Math.max(width, r.prompt.length + Math.max(...r.candidates.map((c) => c.length)));
      const n = count + r.candidates.length;
      if (end > start && n * w * V > budget) break;
      width = w;
      count = n;
      end++;
    }
    const ids: number[][] = [], mask: number[][] = [], spans: [number, number, number][] = [];
    for (let i = start; i < end; i++) {
      const r = rows[i];
      r.candidates.forEach((c, k) => {
        const row = [...r.prompt, ...c];
        const pad = width - row.length;
        ids.push([...row, ...new Array(pad).fill(row[row.length - 1])]);
        mask.push([...new Array(row.length).fill(1), ...new Array(pad).fill(0)]);
        spans.push([i, k, r.prompt.length]);
      });
    }
    const { data, dims } = await engine.logits({
      inputIds: ids,
      attentionMask: mask,
      prefixes: ids.map(() => options.prefix),
    });
    const T = dims[1];
    spans.forEach(([i, k, p], b) => {
      const cand = rows[i].candidates[k];
      let ll = 0;
      for (let j = 0; j < cand.length; j++) {
        // The token at position p + j is predicted by the logits at p + j - 1.
        const off = (b * T + p + j - 1) * V;
        ll += data[off + cand[j]] - logSumExp(data, off, V);
      }
      out[i][k] = ll;
    });
    start = end;
    options.onProgress?.(start);
  }
  return out;
}

/** The index of the largest value (the first on ties). *
 * @param values scores
 * @returns the index of the best
 *
 * @example Pick the likeliest label
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { argmax } from "./score_continuations.ts";
 * assertEquals(argmax([-3.2, -0.4, -0.4]), 1);
 * ```
 */
export function argmax(values: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

function logSumExp(x: Float32Array, off: number, n: number): number {
  let m = -Infinity;
  for (let i = 0; i < n; i++) if (x[off + i] > m) m = x[off + i];
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.exp(x[off + i] - m);
  return m + Math.log(s);
}
