/** The ids that end a row by default: generation_config.json, config.json and the tokenizer. */
import { assertEquals } from "../_assert.ts";
import { GPT2_TOK } from "../_fixtures.ts";
import { defaultEosIds } from "../../src/infer/generate_options.ts";
import { loadModel } from "../../src/model/mod.ts";

const model = await loadModel(GPT2_TOK); // config and tokenizer EOS: 999, vocabulary 1000

Deno.test("defaultEosIds() adds generation_config's ids to the config's and the tokenizer's", () => {
  assertEquals(defaultEosIds(model.config, {}, model.tokenizer), [999]);
  assertEquals(defaultEosIds(model.config, { eos_token_id: 5 }, model.tokenizer), [5, 999]);
  assertEquals(defaultEosIds(model.config, { eos_token_id: [7, 999] }, null), [7, 999]);
});

Deno.test("defaultEosIds() leaves out ids outside the vocabulary and malformed entries", () => {
  const gen = { eos_token_id: [151645, 151643, -1, 2.5, "3", 4] };
  assertEquals(defaultEosIds(model.config, gen, model.tokenizer), [4, 999]);
});
