/**
 * Decode rows together: one batched forward per step over all live rows, each
 * row with its own prefix, sampling parameters and stop rules. Finished rows
 * leave the batch when the cache is on the CPU (their rows are copied out);
 * on WebGPU, where the cache stays on the device, they ride along masked.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import type { ModelConfig } from "../model/mod.ts";
import { BatchLayout, type StepTensors } from "./batch_layout.ts";
import type { DecoderSession } from "./decoder_session.ts";
import { type KvCache, prefixCache } from "./kv_cache.ts";
import { pickToken } from "./logits_processors.ts";
import type { RowRun } from "./row_run.ts";

/**
 * Run a group of (non-beam) rows to completion. Errors fail every unfinished row.
 *
 * @param session the decoder
 * @param config the base model
 * @param runs the rows (already validated)
 * @param padId an in-vocabulary id fed in masked columns
 */
export async function decodeGroup(
  session: DecoderSession,
  config: ModelConfig,
  runs: RowRun[],
  padId: number,
): Promise<void> {
  let batch = runs.filter((r) => !closeIfTrivial(r));
  if (batch.length === 0) return;
  let cache: KvCache | undefined;
  try {
    cache = prefixCache(session.backend, config, batch.map((r) => r.row.prefix));
    const pre = BatchLayout.prefill(
      batch.map((r) => r.row.prefix?.prefixLen ?? 0),
      batch.map((r) => r.row.promptIds),
      undefined,
      padId,
    );
    let layout = pre.layout;
    let step: StepTensors = pre.step;
    while (true) {
      const out = await session.forward({ ...step, batch: batch.length, cache });
      cache.dispose();
      cache = out.cache;
      const [, T, V] = out.dims;
      const next: number[] = [];
      batch.forEach((run, b) => {
        if (run.done) return next.push(padId);
        if (run.aborted) {
          run.finish("cancelled");
          return next.push(padId);
        }
        const at = (b * T + step.lastColumn[b]) * V;
        const logits = out.logits.slice(at, at + V);
        const id = pickToken(logits, run.row.sampling, run.context, run.rng);
        run.accept(id);
        next.push(id);
      });
      const keep = batch.map((r, b) => (r.done ? -1 : b)).filter((b) => b >= 0);
      if (keep.length === 0) break;
      // single-threaded WASM runs the whole forward pass on this thread: give the event
      // loop one turn per step so a server sees new requests, disconnects and timers.
      if (session.backend.ep === "wasm") await yieldToEventLoop();
      if (keep.length < batch.length && cache.tensors[0].location === "cpu") {
        const old = cache;
        cache = await cache.selectRows(session.backend, keep);
        old.dispose();
        layout = layout.selectRows(keep);
        batch = keep.map((b) => batch[b]);
        step = layout.step(keep.map((b) => next[b]));
      } else {
        step = layout.step(next);
      }
    }
  } catch (e) {
    for (const r of runs) r.controller.fail(e);
  } finally {
    cache?.dispose();
  }
}

/**
 * Resolves after one event-loop turn, in which pending I/O and due timers run.
 * `setImmediate` costs ~4 µs here; `setTimeout(0)` costs ~2 ms, more than a
 * whole decode step of a small model.
 */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Ends rows that need no forward pass (aborted already, or 0 new tokens). */
function closeIfTrivial(run: RowRun): boolean {
  if (run.aborted) run.finish("cancelled");
  else if (run.row.maxNewTokens <= 0) run.finish("length");
  return run.done;
}
