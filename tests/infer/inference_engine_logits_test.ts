/**
 * The engine's logits against the PyTorch oracle (gpt2-tiny, llama-tiny and the
 * edge families qwen2-tiny, qwen3-tiny, llama3-tiny): every prefix case to 1e-4 absolute where attention_mask is 1, on each provider; and a
 * mixed batch (different prefixes, different P, one row without a prefix)
 * equals each row run alone.
 */
import { assert } from "../_assert.ts";
import {
  GPT2_TINY,
  LLAMA3_TINY,
  LLAMA_TINY,
  maskedMaxDiff,
  maxAbsDiff,
  QWEN2_TINY,
  QWEN3_TINY,
  readCases,
} from "../_fixtures.ts";
import { InferenceEngine } from "../../src/infer/mod.ts";
import { loadModel, type Prefix, prefixWidth } from "../../src/model/mod.ts";
import { PROVIDERS, randomPrefix, readOracle } from "./_engines.ts";

for (const { ep, ignore } of PROVIDERS) {
  for (const dir of [GPT2_TINY, LLAMA_TINY, QWEN2_TINY, QWEN3_TINY, LLAMA3_TINY]) {
    const name = dir.split("/").pop();
    Deno.test({
      name: `logits() matches the ${name} oracle for every prefix case on ${ep}`,
      ignore,
      sanitizeResources: false,
      sanitizeOps: false,
      async fn() {
        const { batch, cases } = await readCases(dir);
        const model = await loadModel(`${dir}/model`);
        const engine = await InferenceEngine.create(model, { executionProvider: ep });
        try {
          const V = model.config.vocabSize;
          for (const c of cases) {
            const { prefix, logits } = await readOracle(`${dir}/${c.file}`);
            const out = await engine.logits({
              inputIds: batch.input_ids,
              attentionMask: batch.attention_mask,
              prefixes: batch.input_ids.map(() => prefix),
            });
            assert(out.dims.join() === [2, 6, V].join(), `dims ${out.dims}`);
            const d = maskedMaxDiff(out.data, logits!, batch.attention_mask, V);
            assert(d <= 1e-4, `${c.name}: max |diff| ${d} > 1e-4`);
          }
        } finally {
          await engine.dispose();
        }
      },
    });
  }

  Deno.test({
    name: `a mixed batch of prefixes equals each row run alone on ${ep}`,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const { batch, cases } = await readCases(GPT2_TINY);
      const model = await loadModel(`${GPT2_TINY}/model`);
      const engine = await InferenceEngine.create(model, { executionProvider: ep });
      try {
        const V = model.config.vocabSize, S = prefixWidth(model.config);
        const oracle = (await readOracle(`${GPT2_TINY}/${cases[5].file}`)).prefix; // P = 4
        const rows: { ids: number[]; prefix: Prefix | null }[] = [
          { ids: batch.input_ids[0], prefix: oracle },
          { ids: batch.input_ids[1], prefix: randomPrefix(S, 7, 3) },
          { ids: batch.input_ids[0].slice().reverse(), prefix: null },
          { ids: batch.input_ids[1], prefix: randomPrefix(S, 1, 9) },
        ];
        const mixed = await engine.logits({
          inputIds: rows.map((r) => r.ids),
          prefixes: rows.map((r) => r.prefix),
        });
        const T = rows[0].ids.length;
        for (let b = 0; b < rows.length; b++) {
          const alone = await engine.logits({
            inputIds: [rows[b].ids],
            prefixes: [rows[b].prefix],
          });
          const d = maxAbsDiff(mixed.data.subarray(b * T * V, (b + 1) * T * V), alone.data);
          assert(d <= 1e-4, `row ${b}: max |diff| ${d}`);
        }
        // The prefix matters: row 1 without its prefix differs.
        const bare = await engine.logits({ inputIds: [rows[1].ids] });
        assert(maxAbsDiff(mixed.data.subarray(T * V, 2 * T * V), bare.data) > 1e-2);
      } finally {
        await engine.dispose();
      }
    },
  });
}
