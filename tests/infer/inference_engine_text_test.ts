/**
 * Text in, text out on gpt2-text (random weights, GPT-2 tokenizer cut to 1000 ids), plus
 * the decode options callers see: stop strings, seeded sampling, beam search,
 * bad words, cancellation, and the token-count helpers.
 */
import { assert, assertEquals } from "../_assert.ts";
import { GPT2_TINY, GPT2_TOK } from "../_fixtures.ts";
import { InferenceEngine } from "../../src/infer/mod.ts";
import { loadModel, prefixWidth } from "../../src/model/mod.ts";
import { drain, randomPrefix } from "./_engines.ts";

const model = await loadModel(GPT2_TOK);
const tok = model.requireTokenizer();
const opts = { sanitizeResources: false, sanitizeOps: false };

Deno.test({
  name: "generate() turns a prompt string into streamed text, with and without a prefix",
  ...opts,
  async fn() {
    const engine = await InferenceEngine.create(model, { executionProvider: "wasm" });
    try {
      const prompt = "The quick brown fox";
      const bare = await drain(engine.generate({ prompt, maxNewTokens: 8, eosTokenIds: [] }));
      const prefix = randomPrefix(prefixWidth(model.config), 6, 11, 3);
      const tuned = await drain(
        engine.generate({ prompt, prefix, maxNewTokens: 8, eosTokenIds: [] }),
      );
      for (const run of [bare, tuned]) {
        assertEquals(run.ids.length, 8);
        assertEquals(run.result.promptTokens, tok.encode(prompt).length);
        assertEquals(run.texts.join(""), run.result.text);
        assertEquals(run.result.text, tok.decode(run.ids));
        assert(run.result.text.length > 0);
      }
      assert(bare.result.text !== tuned.result.text, "the prefix changes the output");
      assertEquals(engine.countTokens(prompt), 9);
      assertEquals(engine.contextLeft(6), 122);
    } finally {
      await engine.dispose();
    }
  },
});

Deno.test({
  name: "generate() ends before a stop string and never streams it",
  ...opts,
  async fn() {
    const engine = await InferenceEngine.create(model, { executionProvider: "wasm" });
    try {
      const free = await drain(
        engine.generate({ prompt: "Hello", maxNewTokens: 12, eosTokenIds: [] }),
      );
      // Pick a stop string from the middle of the free-running text.
      const text = free.result.text;
      const stop = text.slice(Math.floor(text.length / 2), Math.floor(text.length / 2) + 3);
      const stopped = await drain(
        engine.generate({ prompt: "Hello", maxNewTokens: 12, eosTokenIds: [], stop: [stop] }),
      );
      assertEquals(stopped.result.finishReason, "stop");
      assertEquals(stopped.result.text, text.slice(0, text.indexOf(stop)));
      assertEquals(stopped.texts.join(""), stopped.result.text);
    } finally {
      await engine.dispose();
    }
  },
});

Deno.test({
  name: "sampling with a seed repeats and differs across seeds; greedy ignores the seed",
  ...opts,
  async fn() {
    const engine = await InferenceEngine.create(model, { executionProvider: "wasm" });
    try {
      const run = async (o: Record<string, number>) =>
        (await drain(engine.generate({ prompt: "Once", maxNewTokens: 6, eosTokenIds: [], ...o })))
          .ids;
      const a = await run({ temperature: 1.5, topK: 50, topP: 0.95, seed: 1 });
      assertEquals(await run({ temperature: 1.5, topK: 50, topP: 0.95, seed: 1 }), a);
      assert((await run({ temperature: 1.5, topK: 50, topP: 0.95, seed: 2 })).join() !== a.join());
      assertEquals(await run({ seed: 1 }), await run({ seed: 2 }));
      // top-k 1 is greedy whatever the temperature.
      assertEquals(await run({ temperature: 2, topK: 1, seed: 3 }), await run({}));
    } finally {
      await engine.dispose();
    }
  },
});

Deno.test({
  name: "beam search with one beam equals greedy, and more beams score at least as well",
  ...opts,
  async fn() {
    const tiny = await loadModel(`${GPT2_TINY}/model`);
    const engine = await InferenceEngine.create(tiny, { executionProvider: "wasm" });
    try {
      const base = { inputIds: [5, 17, 400], maxNewTokens: 6, eosTokenIds: [] };
      const greedy = await drain(engine.generate(base));
      const beam1 = await drain(engine.generate({ ...base, numBeams: 1 }));
      assertEquals(beam1.ids, greedy.ids);
      const beam4 = await drain(engine.generate({ ...base, numBeams: 4, lengthPenalty: 0 }));
      assertEquals(beam4.ids.length, 6);
      const score = async (gen: number[]) => {
        const ids = [...base.inputIds, ...gen];
        const { data, dims } = await engine.logits({ inputIds: [ids] });
        const V = dims[2];
        let s = 0;
        for (let t = base.inputIds.length - 1; t < ids.length - 1; t++) {
          const row = data.subarray(t * V, (t + 1) * V);
          const m = Math.max(...row);
          const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
          s += row[ids[t + 1]] - lse;
        }
        return s;
      };
      assert(await score(beam4.ids) >= await score(greedy.ids) - 1e-4);
    } finally {
      await engine.dispose();
    }
  },
});

Deno.test({
  name: "badWordsIds bans single tokens and completions of longer sequences",
  ...opts,
  async fn() {
    const tiny = await loadModel(`${GPT2_TINY}/model`);
    const engine = await InferenceEngine.create(tiny, { executionProvider: "wasm" });
    try {
      const base = { inputIds: [961, 931, 927], maxNewTokens: 4, eosTokenIds: [] };
      const free = (await drain(engine.generate(base))).ids;
      const banned = (await drain(engine.generate({ ...base, badWordsIds: [[free[0]]] }))).ids;
      assert(!banned.includes(free[0]), `${free[0]} still generated: ${banned}`);
      // [927, free[0]] is banned only right after 927, i.e. at the first step.
      const seq = (await drain(engine.generate({ ...base, badWordsIds: [[927, free[0]]] }))).ids;
      assert(seq[0] !== free[0]);
    } finally {
      await engine.dispose();
    }
  },
});

Deno.test({
  name: "aborting a row ends it as cancelled while the other rows of the batch finish",
  ...opts,
  async fn() {
    const engine = await InferenceEngine.create(model, { executionProvider: "wasm" });
    try {
      const ctl = new AbortController();
      const [a, b] = engine.generateBatch([
        { prompt: "One", maxNewTokens: 20, eosTokenIds: [], signal: ctl.signal },
        { prompt: "Two", maxNewTokens: 20, eosTokenIds: [] },
      ]);
      let seen = 0;
      for await (const _ of a) if (++seen === 2) ctl.abort();
      const ra = await a.result, rb = await b.result;
      assertEquals(ra.finishReason, "cancelled");
      assert(ra.tokenIds.length < 20);
      assertEquals(rb.finishReason, "length");
      assertEquals(rb.tokenIds.length, 20);
    } finally {
      await engine.dispose();
    }
  },
});

Deno.test({
  name: "concurrent generate() calls on one engine give the same tokens as sequential calls",
  ...opts,
  async fn() {
    const engine = await InferenceEngine.create(model, { executionProvider: "wasm" });
    try {
      const rows = ["Red", "Green", "Blue"].map((prompt) => ({
        prompt,
        maxNewTokens: 5,
        eosTokenIds: [],
      }));
      const together = await Promise.all(rows.map((r) => drain(engine.generate(r))));
      for (let i = 0; i < rows.length; i++) {
        assertEquals(together[i].ids, (await drain(engine.generate(rows[i]))).ids);
      }
    } finally {
      await engine.dispose();
    }
  },
});
