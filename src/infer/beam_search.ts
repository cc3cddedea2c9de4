/**
 * Beam search for one row: `numBeams` hypotheses decoded as one batch, scored
 * by summed log-probabilities; a finished hypothesis is ranked by
 * `score / length^lengthPenalty` (length = new tokens before EOS, as Hugging
 * Face counts it). The search stops when `numBeams` hypotheses have finished
 * and no running beam can beat the worst of them, or at `maxNewTokens`.
 * Tokens are streamed once the winner is known.
 *
 * @module
 */
import type { ModelConfig } from "../model/mod.ts";
import { prefillLayout } from "./batch_layout.ts";
import type { DecoderSession } from "./decoder_session.ts";
import { type KvCache, prefixCache } from "./kv_cache.ts";
import { banBadWords, logSoftmax } from "./logits_processors.ts";
import type { RowRun } from "./row_run.ts";

interface Beam {
  ids: number[];
  score: number;
}

interface Candidate {
  beam: number;
  token: number;
  score: number;
}

/**
 * Run one row with beam search and stream the best hypothesis.
 *
 * @param session the decoder
 * @param config the base model
 * @param run the row (numBeams > 1)
 * @param padId an in-vocabulary id fed in masked columns
 */
export async function beamSearch(
  session: DecoderSession,
  config: ModelConfig,
  run: RowRun,
  padId: number,
): Promise<void> {
  const { numBeams: K, lengthPenalty, maxNewTokens, eos, prefix, promptIds } = run.row;
  if (run.aborted) return run.finish("cancelled");
  if (maxNewTokens <= 0) return run.finish("length");
  const norm = (score: number, len: number) => score / Math.max(1, len) ** lengthPenalty;
  let cache: KvCache | undefined;
  try {
    cache = prefixCache(session.backend, config, [prefix]);
    const pre = prefillLayout(session.ragged, [prefix?.prefixLen ?? 0], [promptIds], padId);
    let layout = pre.layout;
    let step = pre.step;
    let beams: Beam[] = [{ ids: [], score: 0 }];
    const finished: Beam[] = []; // score already length-normalized
    let cancelled = false;
    while (true) {
      const out = await session.forward({ ...step, batch: beams.length, cache });
      cache.dispose();
      cache = out.cache;
      if (run.aborted) {
        cancelled = true;
        break;
      }
      const [, T, V] = out.dims;
      // Top 2K continuations of each beam, then the best 2K overall.
      const cands: Candidate[] = [];
      beams.forEach((beam, b) => {
        const at = (b * T + step.lastColumn[b]) * V;
        const logits = out.logits.slice(at, at + V);
        banBadWords(logits, [...promptIds, ...beam.ids], run.row.sampling.badWordsIds);
        const lp = logSoftmax(logits);
        for (const token of topIndices(lp, 2 * K)) {
          cands.push({ beam: b, token, score: beam.score + lp[token] });
        }
      });
      cands.sort((a, b) => b.score - a.score);
      const next: Candidate[] = [];
      for (let rank = 0; rank < cands.length && next.length < K; rank++) {
        const c = cands[rank];
        if (!Number.isFinite(c.score)) break;
        if (eos.has(c.token)) {
          // Only an EOS ranked among the top K ends a hypothesis (as in HF).
          if (rank < K) {
            const ids = beams[c.beam].ids;
            finished.push({ ids: [...ids, c.token], score: norm(c.score, ids.length) });
          }
          continue;
        }
        next.push(c);
      }
      const len = beams[0].ids.length + 1;
      finished.sort((a, b) => b.score - a.score);
      finished.length = Math.min(finished.length, K);
      const saturated = finished.length >= K &&
        (next.length === 0 || finished[K - 1].score >= norm(next[0].score, len));
      if (next.length === 0 || saturated) break;
      beams = next.map((c) => ({ ids: [...beams[c.beam].ids, c.token], score: c.score }));
      if (len >= maxNewTokens) {
        for (const b of beams) finished.push({ ids: b.ids, score: norm(b.score, b.ids.length) });
        break;
      }
      const rows = next.map((c) => c.beam);
      const old = cache;
      // On WebGPU the rows are gathered on the GPU (session.rowGather), so
      // the cache is never copied to the CPU between steps (docs/design.md §4).
      cache = await cache.selectRows(session.backend, rows, undefined, session.rowGather);
      old.dispose();
      layout = layout.selectRows(rows);
      step = layout.step(next.map((c) => c.token));
    }
    if (cancelled || finished.length === 0) {
      emit(run, beams[0].ids);
      if (!run.done) run.finish("cancelled");
      return;
    }
    finished.sort((a, b) => b.score - a.score);
    emit(run, finished[0].ids);
    if (!run.done) run.finish("length");
  } catch (e) {
    run.controller.fail(e);
  } finally {
    cache?.dispose();
  }
}

/** Stream a hypothesis through the row's stop rules. */
function emit(run: RowRun, ids: readonly number[]): void {
  for (const id of ids) {
    if (run.done) return;
    run.accept(id);
  }
}

/** Indices of the k largest values, unordered. */
function topIndices(x: Float64Array, k: number): number[] {
  if (k >= x.length) return Array.from(x.keys());
  const idx: number[] = [];
  for (let i = 0; i < x.length; i++) {
    if (idx.length < k) {
      idx.push(i);
      if (idx.length === k) idx.sort((a, b) => x[a] - x[b]);
    } else if (x[i] > x[idx[0]]) {
      // Replace the smallest and restore ascending order by one insertion pass.
      idx[0] = i;
      for (let j = 0; j + 1 < k && x[idx[j]] > x[idx[j + 1]]; j++) {
        [idx[j], idx[j + 1]] = [idx[j + 1], idx[j]];
      }
    }
  }
  return idx;
}
