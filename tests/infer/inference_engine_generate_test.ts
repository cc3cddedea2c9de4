/**
 * Decoding through the engine: the oracle's greedy case on gpt2-tiny, the
 * llama2.c greedy story of stories260K from BOS, and a mixed generateBatch
 * that must equal each row generated alone.
 */
import { assertEquals } from "../_assert.ts";
import { GPT2_TINY, readCases, STORIES } from "../_fixtures.ts";
import { InferenceEngine } from "../../src/infer/mod.ts";
import { loadModel, prefixWidth } from "../../src/model/mod.ts";
import { drain, PROVIDERS, randomPrefix, readOracle } from "./_engines.ts";

const storyTokens: number[] = JSON.parse(await Deno.readTextFile(`${STORIES}/greedy_tokens.json`))
  .tokens;

for (const { ep, ignore } of PROVIDERS) {
  Deno.test({
    name: `generate() reproduces the oracle's greedy tokens with the residual-gate prefix on ${ep}`,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const { cases } = await readCases(GPT2_TINY);
      const c = cases.find((x) => x.greedy)!;
      const { prefix } = await readOracle(`${GPT2_TINY}/${c.file}`);
      const engine = await InferenceEngine.create(await loadModel(`${GPT2_TINY}/model`), {
        executionProvider: ep,
      });
      try {
        const { ids, result } = await drain(engine.generate({
          inputIds: c.greedy!.prompt,
          prefix,
          maxNewTokens: c.greedy!.tokens.length,
          eosTokenIds: [],
        }));
        assertEquals(ids, c.greedy!.tokens);
        assertEquals(result.finishReason, "length");
        assertEquals(result.promptTokens, c.greedy!.prompt.length);
      } finally {
        await engine.dispose();
      }
    },
  });

  // 256 tokens on WASM/native; WebGPU checks the first 64 (all 256 take ~30 s on llvmpipe).
  const n = ep === "webgpu" ? 64 : storyTokens.length;
  Deno.test({
    name: `greedy decoding of stories260K from BOS reproduces llama2.c's ${n} tokens on ${ep}`,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const engine = await InferenceEngine.create(await loadModel(STORIES), {
        executionProvider: ep,
      });
      try {
        const { ids, result } = await drain(
          engine.generate({ inputIds: [1], maxNewTokens: n, eosTokenIds: [] }),
        );
        assertEquals(ids, storyTokens.slice(0, n));
        assertEquals(result.tokenIds, ids);
      } finally {
        await engine.dispose();
      }
    },
  });

  Deno.test({
    name: `generateBatch() rows with different prefixes equal each row generated alone on ${ep}`,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      // stories260K is trained, so its greedy choices react to small changes
      // in attention (a random model's argmax often would not).
      const model = await loadModel(STORIES);
      const engine = await InferenceEngine.create(model, { executionProvider: ep });
      const S = prefixWidth(model.config);
      try {
        const rows = [
          { prompt: "Lily saw a", prefix: randomPrefix(S, 4, 1, 0.3), maxNewTokens: 6 },
          { prompt: "Tom", prefix: null, maxNewTokens: 3 },
          {
            prompt: "Once upon a time, a dog",
            prefix: randomPrefix(S, 2, 2, 0.3),
            maxNewTokens: 5,
          },
          {
            prompt: "The sun",
            prefix: randomPrefix(S, 5, 3, 0.3),
            maxNewTokens: 6,
            temperature: 1,
            seed: 7,
          },
        ].map((r) => ({ ...r, eosTokenIds: [] }));
        const together = await Promise.all(engine.generateBatch(rows).map(drain));
        for (let i = 0; i < rows.length; i++) {
          const alone = await drain(engine.generate(rows[i]));
          assertEquals(together[i].ids, alone.ids, `row ${i}`);
          assertEquals(together[i].result.text, alone.result.text, `row ${i}`);
          assertEquals(together[i].ids.length, rows[i].maxNewTokens);
        }
      } finally {
        await engine.dispose();
      }
    },
  });
}
