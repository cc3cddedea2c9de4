import { PrefixEdgeError } from "../../src/errors/mod.ts";
import { loadModel } from "../../src/model/mod.ts";
import {
  IGNORE_INDEX,
  loadExamples,
  prepareDataset,
  tokenizeDataset,
  tokenizeExample,
} from "../../src/train/mod.ts";
import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { GPT2_TINY, GPT2_TOK } from "../_fixtures.ts";

const model = await loadModel(GPT2_TOK);
const tok = model.requireTokenizer();
const EOS = tok.eosTokenId!;

Deno.test("tokenizeExample() masks the input and separator and scores the output and EOS", () => {
  const ex = { input: "name : Aromi | area : riverside", output: "Aromi is by the river." };
  const t = tokenizeExample(tok, ex, " ||", EOS);
  const prompt = tok.encode("name : Aromi | area : riverside ||");
  assertEquals(t.inputIds.length, t.labels.length);
  // The prompt tokenized alone is exactly the start of the training row.
  assertEquals(t.inputIds.slice(0, prompt.length), prompt);
  assertEquals(t.labels.slice(0, prompt.length), prompt.map(() => IGNORE_INDEX));
  const target = t.inputIds.slice(prompt.length);
  assertEquals(t.labels.slice(prompt.length), target);
  assertEquals(target.at(-1), EOS);
  assertEquals(tok.decode(target.slice(0, -1)), " Aromi is by the river.");
  assertEquals(t.labels.filter((l) => l !== IGNORE_INDEX).length, target.length);
});

Deno.test("tokenizeDataset() drops over-long examples, counts target tokens and fingerprints", async () => {
  const loaded = await loadExamples("data/e2e-small/dev.csv");
  const all = await tokenizeDataset(loaded, tok, { maxLen: 256, eosTokenId: EOS });
  assertEquals(all.examples.length + all.dropped, 50);
  assertEquals(all.dropped, 0);
  const short = await tokenizeDataset(loaded, tok, { maxLen: 80, eosTokenId: EOS });
  assert(short.dropped > 0 && short.examples.length > 0);
  for (const e of short.examples) assert(e.inputIds.length <= 80);
  const counted = short.examples.reduce(
    (a, e) => a + e.labels.filter((l) => l !== IGNORE_INDEX).length,
    0,
  );
  assertEquals(short.targetTokens, counted);
  const again = await tokenizeDataset(loaded, tok, { maxLen: 80, eosTokenId: EOS });
  assertEquals(again.fingerprint, short.fingerprint);
  assert(all.fingerprint !== short.fingerprint);
  assertEquals(short.fingerprint.length, 64);
});

Deno.test("an empty dataset, or one where nothing fits, is DATA_INVALID", async () => {
  const empty = { path: "empty.jsonl", format: "jsonl" as const, separator: " ||", examples: [] };
  await assertRejects(() => tokenizeDataset(empty, tok, { maxLen: 64, eosTokenId: EOS }), (e) => {
    assert(e instanceof PrefixEdgeError && e.code === "DATA_INVALID", String(e));
    assert(e.message.includes("empty.jsonl") && e.message.includes("no examples"), e.message);
  });
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/blank.jsonl`, "\n\n");
  await assertRejects(() => prepareDataset(model, `${dir}/blank.jsonl`, { maxLen: 64 }), (e) => {
    assert(e instanceof PrefixEdgeError && e.code === "DATA_INVALID", String(e));
  });
  await assertRejects(() => prepareDataset(model, "data/e2e-small/dev.csv", { maxLen: 5 }), (e) => {
    assert(e instanceof PrefixEdgeError && e.code === "DATA_INVALID", String(e));
    assert(e.message.includes("longer than max-len 5"), e.message);
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("prepareDataset() needs a tokenizer: TOKENIZER_MISSING for a model without one", async () => {
  const noTok = await loadModel(`${GPT2_TINY}/model`);
  await assertRejects(
    () => prepareDataset(noTok, "data/e2e-small/dev.csv", { maxLen: 64 }),
    (e) => {
      assert(e instanceof PrefixEdgeError && e.code === "TOKENIZER_MISSING", String(e));
    },
  );
});
