import { assert, assertEquals, assertRejects, assertThrows } from "../_assert.ts";
import { loadModel, parseConfig, prefixWidth } from "../../src/model/mod.ts";
import { PrefixEdgeError } from "../../src/errors/mod.ts";
import { GPT2_TINY, GPT2_TOK, GPT2_TOKENIZER, STORIES } from "../_fixtures.ts";

function assertCode(e: unknown, code: string): void {
  assert(e instanceof PrefixEdgeError, `expected PrefixEdgeError, got ${e}`);
  assertEquals(e.code, code);
}

Deno.test("loadModel() reads a GPT-2 config and its shapes", async () => {
  const m = await loadModel(`${GPT2_TINY}/model`);
  assertEquals(m.config.family, "gpt2");
  assertEquals(m.config.numLayers, 2);
  assertEquals(m.config.headDim, 16);
  assertEquals(prefixWidth(m.config), 2 * 2 * 64);
  assertEquals(m.tokenizer, null);
  assert(m.paths.onnx?.endsWith("onnx/model.onnx"));
});

Deno.test("loadModel() reads a Llama config with GQA: D = num_key_value_heads * head_dim", async () => {
  const m = await loadModel(STORIES);
  assertEquals(m.config.family, "llama");
  assertEquals(m.config.numKvHeads, 4);
  assertEquals(m.config.headDim, 8);
  assertEquals(prefixWidth(m.config), 2 * 5 * 32);
  assertEquals(m.config.bosTokenId, 1);
  assertEquals(m.config.eosTokenIds, [2]);
});

Deno.test("tokenizer encodes 'Hello world' as GPT-2 does", async () => {
  // The GPT-2 tokenizer folder alone (no config.json) parses.
  const { TextTokenizer } = await import("../../src/model/tokenizer.ts");
  const t2 = await TextTokenizer.fromBytes(
    await Deno.readFile(`${GPT2_TOKENIZER}/tokenizer.json`),
    undefined,
    GPT2_TOKENIZER,
  );
  assertEquals(t2.encode("Hello world"), [15496, 995]);
  assertEquals(t2.decode([15496, 995]), "Hello world");
  // The text fixture's tokenizer is GPT-2's first 1000 ids: fewer merges, the same byte-level ids.
  const tok = (await loadModel(GPT2_TOK)).requireTokenizer();
  assertEquals(tok.encode("Hello world"), [39, 695, 78, 995]);
  assertEquals(tok.decode([39, 695, 78, 995]), "Hello world");
  assertEquals(tok.eosTokenId, 999);
});

Deno.test("stories260K tokenizer takes BOS from tokenizer_config.json", async () => {
  const m = await loadModel(STORIES);
  const tok = m.requireTokenizer();
  assertEquals(tok.bosTokenId, 1);
  assertEquals(tok.eosTokenId, 2);
  assertEquals(tok.encode("Once upon a time")[0], 1);
});

Deno.test("a folder without a tokenizer loads, and text APIs fail with TOKENIZER_MISSING", async () => {
  const m = await loadModel(`${GPT2_TINY}/model`);
  try {
    m.requireTokenizer();
    throw new Error("unreachable");
  } catch (e) {
    assertCode(e, "TOKENIZER_MISSING");
  }
});

Deno.test("loadModel() refuses a missing folder with FILE_NOT_FOUND", async () => {
  const e = await assertRejects(() => loadModel("/nonexistent/model"));
  assertCode(e, "FILE_NOT_FOUND");
});

Deno.test("parseConfig() refuses unknown model types and missing fields", () => {
  assertThrows(
    () => parseConfig({ model_type: "bert" }),
    (e: unknown) => assertCode(e, "UNSUPPORTED_MODEL"),
  );
  assertThrows(
    () =>
      parseConfig({ model_type: "gpt2", n_head: 4, n_embd: 64, n_positions: 8, vocab_size: 10 }),
    (e: unknown) => {
      assertCode(e, "CONFIG_INVALID");
      assert((e as Error).message.includes("n_layer"));
    },
  );
  assertThrows(
    () =>
      parseConfig({
        model_type: "gpt2",
        n_layer: 2,
        n_head: 3,
        n_embd: 64,
        n_positions: 8,
        vocab_size: 10,
      }),
    (e: unknown) => assertCode(e, "CONFIG_INVALID"),
  );
  assertThrows(
    () =>
      parseConfig({
        model_type: "llama",
        num_hidden_layers: 2,
        num_attention_heads: 6,
        num_key_value_heads: 4,
        hidden_size: 48,
        intermediate_size: 8,
        max_position_embeddings: 8,
        vocab_size: 10,
      }),
    (e: unknown) => assertCode(e, "CONFIG_INVALID"),
  );
});

Deno.test("loadModel() on a file says it is a file, not a model folder", async () => {
  const e = await assertRejects(() => loadModel(`${GPT2_TINY}/cases.json`));
  assertCode(e, "FILE_NOT_FOUND");
  assert((e as Error).message.includes("is a file"), (e as Error).message);
});

Deno.test("stories260K's byte-fallback BPE round-trips 'Café £30' through the tokenizer", async () => {
  const model = await loadModel(STORIES);
  const tok = model.requireTokenizer();
  const ids = tok.encode("Café £30");
  assertEquals(ids, [1, 410, 457, 412, 431, 485, 410, 197, 166, 472, 477]);
  assertEquals(tok.decode(ids).trim(), "Café £30");
});
