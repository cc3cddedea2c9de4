/**
 * Prompt lookup: drafts from a row's own context, checked in one forward pass. The engine's
 * tokens with drafts must be the tokens it picks without them (greedy, sampled, stop strings,
 * bad words, EOS, a prefix), each pick from the same logits within 1e-4, and every accepted draft
 * token saves a decode step. On WebGPU the rejected columns leave a cache kept on the GPU there.
 * The ragged graph's case is in ragged_batch_test.ts.
 */
import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { maxAbsDiff, STORIES } from "../_fixtures.ts";
import { GPT2_TINY } from "../_fixtures.ts";
import { countCacheDownloads, NO_NATIVE, NO_WEBGPU, randomPrefix } from "./_engines.ts";
import { BatchLayout, RaggedLayout } from "../../src/infer/batch_layout.ts";
import { draftFromContext, DraftPayoff } from "../../src/infer/prompt_lookup.ts";
import {
  type GenerateOptions,
  type GenerationResult,
  InferenceEngine,
} from "../../src/infer/mod.ts";
import { loadModel, prefixWidth } from "../../src/model/mod.ts";
import { PrefixEdgeError } from "../../src/errors/mod.ts";

Deno.test("a draft is what followed the latest earlier occurrence of the last tokens", () => {
  // "5 6" occurs at 0 and at 4; the latest earlier one (4) is followed by 9, 5, 6.
  assertEquals(draftFromContext([5, 6, 7, 8, 5, 6, 9, 5, 6], 4), [9, 5, 6]);
  assertEquals(draftFromContext([5, 6, 7, 8, 5, 6, 9, 5, 6], 2), [9, 5]);
  // A 3-token match wins over a later 2-token one.
  assertEquals(draftFromContext([1, 2, 3, 4, 9, 2, 3, 7, 1, 2, 3], 3), [4, 9, 2]);
  // One token alone is not enough, and nothing repeats here.
  assertEquals(draftFromContext([1, 2, 3, 1], 4), []);
  assertEquals(draftFromContext([1, 2, 3, 4], 4), []);
  assertEquals(draftFromContext([1, 2, 1, 2], 0), []);
  // A loop drafts its own continuation.
  assertEquals(draftFromContext([7, 7, 7], 4), [7]);
});

Deno.test("a draft step feeds several columns and a rewind forgets the rejected ones", () => {
  for (const make of [BatchLayout.prefill, RaggedLayout.prefill] as const) {
    const { layout } = make === BatchLayout.prefill
      ? BatchLayout.prefill([2], [[10, 11]], undefined, 0)
      : RaggedLayout.prefill([2], [[10, 11]], 0);
    const step = layout.feed([12, 13, 14]);
    assertEquals(step.positionIds, [4, 5, 6]);
    assertEquals(step.seqLen, 3);
    assertEquals(step.attentionMask, [1, 1, 1, 1, 1, 1, 1]);
    layout.rewind(2); // only 12 was kept
    assertEquals([layout.width, layout.nextPosition(0)], [5, 5]);
    const next = layout.step([20]);
    assertEquals([next.positionIds, next.attentionMask], [[5], [1, 1, 1, 1, 1, 1]]);
    assertThrows(() => layout.rewind(7), (e) => assert(e instanceof RangeError, String(e)));
  }
  const two = BatchLayout.prefill([0, 0], [[1], [2]], undefined, 0).layout;
  assertThrows(() => two.feed([3, 4]), (e) => assert(e instanceof RangeError, String(e)));
});

const model = await loadModel(STORIES);
const prefix = randomPrefix(prefixWidth(model.config), 5, 3);
const ROWS: { name: string; row: GenerateOptions }[] = [
  { name: "greedy", row: { prompt: "Lily and Tom were", maxNewTokens: 120, eosTokenIds: [] } },
  {
    name: "sampled",
    row: { prompt: "Once upon a time", maxNewTokens: 80, temperature: 0.7, topK: 40, seed: 3 },
  },
  { name: "stop string", row: { prompt: "Once upon a time", stop: ["Lily's mom"] } },
  {
    name: "bad words, EOS",
    row: { prompt: "The little dog", maxNewTokens: 200, badWordsIds: [[261]] },
  },
  { name: "prefix", row: { prompt: "Ben wanted to", prefix, maxNewTokens: 60 } },
];

/** A result without its draft counters (the part drafts must not change). */
function withoutDrafts(r: GenerationResult) {
  const { draftedTokens: _d, acceptedDraftTokens: _a, ...rest } = r;
  return rest;
}

/** One row alone on a fresh batch: its stream's result, every pick's logits, the batch's counters. */
async function runAlone(engine: InferenceEngine, row: GenerateOptions) {
  const logits: Float32Array[] = [];
  const batch = engine.openBatch({ onLogits: (_, i, l) => (logits[i] = l) });
  const result = await batch.add(row).result;
  return { result, logits, stats: batch.stats };
}

for (
  const { ep, ignore } of [{ ep: "wasm", ignore: false }, {
    ep: "native",
    ignore: NO_NATIVE,
  }] as const
) {
  Deno.test({
    name: `${ep}: drafts from the prompt change no token, and each accepted one saves a step`,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const plain = await InferenceEngine.create(model, { executionProvider: ep, draftTokens: 0 });
      const drafting = await InferenceEngine.create(model, { executionProvider: ep });
      try {
        for (const { name, row } of ROWS) {
          const want = await runAlone(plain, row);
          const got = await runAlone(drafting, row);
          assertEquals(withoutDrafts(got.result), withoutDrafts(want.result), `${name}: result`);
          // The row's own counters are the batch's: it was the batch's only row.
          const { draftedTokens: rowDrafted, acceptedDraftTokens: rowAccepted } = got.result;
          assertEquals([rowDrafted, rowAccepted], [
            got.stats.draftedTokens,
            got.stats.acceptedDraftTokens,
          ]);
          assertEquals(got.logits.length, want.logits.length, `${name}: picks`);
          got.logits.forEach((l, i) => {
            const err = maxAbsDiff(l, want.logits[i]);
            assert(err <= 1e-4, `${name}: token ${i} logits off by ${err}`);
          });
          assertEquals(want.stats.draftedTokens, 0);
          const { decodeSteps, draftedTokens, acceptedDraftTokens } = got.stats;
          assertEquals(decodeSteps + acceptedDraftTokens, want.stats.decodeSteps, `${name}: steps`);
          assert(acceptedDraftTokens <= draftedTokens);
        }
        // The greedy story repeats its names and phrases. Whether drafts pay is timed
        // (DraftPayoff), but a fresh engine checks its first draft passes whatever the timings
        // say, so some are accepted on any machine; bench/draft_bench.ts measures how many pay.
        const fresh = await InferenceEngine.create(model, { executionProvider: ep });
        try {
          const greedy = (await runAlone(fresh, ROWS[0].row)).stats;
          assert(
            greedy.acceptedDraftTokens > 0,
            `no draft accepted in ${greedy.decodeSteps} steps`,
          );
        } finally {
          await fresh.dispose();
        }
      } finally {
        await plain.dispose();
        await drafting.dispose();
      }
    },
  });
}

Deno.test({
  name: "draftTokens must be a non-negative integer",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const err = await InferenceEngine.create(model, { executionProvider: "wasm", draftTokens: -1 })
      .catch((e) => e);
    assert(err instanceof PrefixEdgeError && err.code === "INVALID_INPUT", String(err));
    const engine = await InferenceEngine.create(model, { executionProvider: "wasm" });
    try {
      assertThrows(
        () => engine.openBatch({ draftTokens: 1.5 }),
        (e) => assert(e instanceof PrefixEdgeError && e.code === "INVALID_INPUT", String(e)),
      );
    } finally {
      await engine.dispose();
    }
  },
});

Deno.test("drafting stops while draft passes cost more per token than one-token passes", () => {
  const payoff = new DraftPayoff();
  assert(payoff.worthDrafting(), "untimed: drafts are tried");
  payoff.recordDraft(90, 1); // one slow pass alone does not stop them
  assert(payoff.worthDrafting());
  payoff.recordPlain(10);
  payoff.recordDraft(12, 3); // 4 ms a token: pays
  assert(payoff.worthDrafting());
  for (let i = 0; i < 40; i++) payoff.recordDraft(25, 1); // 25 ms a token: does not
  const chances = Array.from({ length: 32 }, () => payoff.worthDrafting());
  assertEquals(chances.filter(Boolean).length, 2, "one draft in 16 checked");
  for (let i = 0; i < 40; i++) payoff.recordDraft(11, 4); // pays again
  assert(payoff.worthDrafting());
});

Deno.test({
  name: "webgpu: drafts with the cache on the GPU change no token and download no cache",
  ignore: NO_WEBGPU,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // gpt2-tiny's greedy text loops at once, so its drafts are accepted within a few tokens.
    const tiny = await loadModel(`${GPT2_TINY}/model`);
    const rows: GenerateOptions[] = [[5, 9, 2], [7, 1, 1, 4, 3]].map((inputIds) => ({
      inputIds,
      maxNewTokens: 12,
      eosTokenIds: [],
    }));
    const wasm = await InferenceEngine.create(tiny, { executionProvider: "wasm", draftTokens: 0 });
    const want: number[][] = [];
    try {
      for (const row of rows) want.push((await wasm.generate(row).result).tokenIds);
    } finally {
      await wasm.dispose();
    }
    // Dropping the rejected columns through the CPU would download every cache slot.
    const downloads = countCacheDownloads();
    const gpu = await InferenceEngine.create(tiny, { executionProvider: "webgpu" });
    try {
      let drafted = 0, accepted = 0;
      for (const [i, row] of rows.entries()) {
        const { result, stats } = await runAlone(gpu, row);
        assertEquals(result.tokenIds, want[i], `row ${i}`);
        drafted += stats.draftedTokens;
        accepted += stats.acceptedDraftTokens;
      }
      // Both paths ran: tokens kept, and columns dropped on the GPU after a rejection.
      assert(accepted > 0 && accepted < drafted, `${accepted} of ${drafted} draft tokens kept`);
      assertEquals(downloads.count, 0, "the KV cache was copied to the CPU");
    } finally {
      downloads.restore();
      await gpu.dispose();
    }
  },
});
