/**
 * Verbalizer scoring against the PyTorch oracle (gpt2-tiny): the log-likelihood
 * of each continuation, computed from the oracle's logits with a prefix, equals
 * what scoreContinuations() gets from batched, padded forward passes.
 */
import { argmax, scoreContinuations } from "../../src/eval/mod.ts";
import { InferenceEngine } from "../../src/infer/mod.ts";
import { loadModel } from "../../src/model/mod.ts";
import type { PrefixEdgeError } from "../../src/errors/mod.ts";
import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { GPT2_TINY, readCases } from "../_fixtures.ts";
import { readOracle } from "../infer/_engines.ts";

/** log p(ids[t] | ids[<t]) summed over t in [from, to), from the oracle's [B, T, V] logits. */
function oracleLogLik(
  logits: Float32Array,
  row: number,
  ids: number[],
  from: number,
  to: number,
  T: number,
  V: number,
): number {
  let ll = 0;
  for (let t = from; t < to; t++) {
    const off = (row * T + t - 1) * V;
    let m = -Infinity;
    for (let v = 0; v < V; v++) m = Math.max(m, logits[off + v]);
    let s = 0;
    for (let v = 0; v < V; v++) s += Math.exp(logits[off + v] - m);
    ll += logits[off + ids[t]] - (m + Math.log(s));
  }
  return ll;
}

Deno.test({
  name: "scoreContinuations() matches the oracle's log-likelihoods with a prefix, in any packing",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { batch, cases } = await readCases(GPT2_TINY);
    const model = await loadModel(`${GPT2_TINY}/model`);
    const engine = await InferenceEngine.create(model, { executionProvider: "wasm" });
    try {
      const V = model.config.vocabSize, T = 6;
      const [a, b] = batch.input_ids;
      const picked = cases.filter((c) => c.name === "residual-gate" || c.name === "none");
      assertEquals(picked.length, 2);
      for (const c of picked) {
        const { prefix, logits } = await readOracle(`${GPT2_TINY}/${c.file}`);
        const rows = [
          { prompt: a.slice(0, 3), candidates: [a.slice(3, 6), a.slice(3, 5), a.slice(3, 4)] },
          { prompt: b.slice(0, 2), candidates: [b.slice(2, 4)] },
        ];
        const want = [
          [3, 4, 5].map((end) => end + 1).map((to) => oracleLogLik(logits!, 0, a, 3, to, T, V)),
          [oracleLogLik(logits!, 1, b, 2, 4, T, V)],
        ];
        want[0].reverse(); // candidates are [3..6), [3..5), [3..4)
        // One pass for everything, and one pass per input (a budget below two inputs).
        for (const maxLogits of [undefined, 4 * 6 * V]) {
          const got = await scoreContinuations(engine, rows, { prefix, maxLogits });
          got.forEach((r, i) =>
            r.forEach((v, k) => {
              assert(
                Math.abs(v - want[i][k]) < 2e-3,
                `${c.name} input ${i} candidate ${k}: ${v} vs oracle ${want[i][k]}`,
              );
            })
          );
          assertEquals(argmax(got[0]), argmax(want[0]));
        }
      }
      const code = (e: unknown) => assertEquals((e as PrefixEdgeError).code, "INVALID_INPUT");
      await assertRejects(
        () => scoreContinuations(engine, [{ prompt: [], candidates: [[1]] }], { prefix: null }),
        code,
      );
      await assertRejects(
        () => scoreContinuations(engine, [{ prompt: [1], candidates: [[]] }], { prefix: null }),
        code,
      );
    } finally {
      await engine.dispose();
    }
  },
});

Deno.test("argmax() picks the first of equal maxima", () => {
  assertEquals(argmax([0.1, 0.3, 0.3]), 1);
  assertEquals(argmax([-5]), 0);
});
