/**
 * Bad input gets typed errors with "Cannot ..." messages: a missing model or
 * graph, an unsupported model type, ids out of range, a prompt longer than the
 * context the prefix leaves, and prefixes of the wrong shape.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "../_assert.ts";
import { GPT2_TINY, STORIES } from "../_fixtures.ts";
import { InferenceEngine } from "../../src/infer/mod.ts";
import { PrefixEdgeError } from "../../src/errors/mod.ts";
import { loadModel, prefixWidth } from "../../src/model/mod.ts";
import { randomPrefix } from "./_engines.ts";

const opts = { sanitizeResources: false, sanitizeOps: false };

function hasCode(code: string) {
  return (e: unknown) => {
    assert(e instanceof PrefixEdgeError, `not a PrefixEdgeError: ${e}`);
    assertEquals(e.code, code, e.message);
    assert(e.message.startsWith("Cannot "), e.message);
  };
}

Deno.test("loading a missing model folder fails with FILE_NOT_FOUND", async () => {
  await assertRejects(() => loadModel("/nonexistent/model"), hasCode("FILE_NOT_FOUND"));
});

Deno.test("a model folder without an ONNX graph fails with FILE_NOT_FOUND", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.copyFile(`${GPT2_TINY}/model/config.json`, `${dir}/config.json`);
    const model = await loadModel(dir);
    await assertRejects(
      () => InferenceEngine.create(model, { executionProvider: "wasm" }),
      hasCode("FILE_NOT_FOUND"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an unsupported model type fails with UNSUPPORTED_MODEL", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify({ model_type: "bert" }));
    await assertRejects(() => loadModel(dir), hasCode("UNSUPPORTED_MODEL"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "a graph whose layers disagree with config.json fails with UNSUPPORTED_MODEL",
  ...opts,
  async fn() {
    const model = await loadModel(`${GPT2_TINY}/model`);
    const stories = await Deno.readFile(`${STORIES}/onnx/model.onnx`);
    await assertRejects(
      () => InferenceEngine.create(model, { executionProvider: "wasm", onnx: stories }),
      hasCode("UNSUPPORTED_MODEL"),
    );
  },
});

Deno.test({
  name: "bad ids, overlong prompts and misshapen prefixes are refused before decoding",
  ...opts,
  async fn() {
    const model = await loadModel(`${GPT2_TINY}/model`);
    const engine = await InferenceEngine.create(model, { executionProvider: "wasm" });
    const S = prefixWidth(model.config); // 2 * 2 * 64 = 256
    const ctx = model.config.maxPositions; // 128
    try {
      assertThrows(() => engine.generate({ inputIds: [1, 1000] }), hasCode("TOKEN_OUT_OF_RANGE"));
      assertThrows(() => engine.generate({ inputIds: [-1] }), hasCode("TOKEN_OUT_OF_RANGE"));
      assertThrows(() => engine.generate({ inputIds: [1.5] }), hasCode("TOKEN_OUT_OF_RANGE"));
      await assertRejects(
        () => engine.logits({ inputIds: [[5, 99999]] }),
        hasCode("TOKEN_OUT_OF_RANGE"),
      );
      // With P = 8, 120 positions are left: 120 tokens fit, 121 overflow.
      const prefix = randomPrefix(S, 8);
      const fits = engine.generate({ inputIds: new Array(120).fill(3), prefix, maxNewTokens: 5 });
      const r = await fits.result;
      assertEquals(r.tokenIds.length, 1, "only one new token fits");
      assertEquals(r.finishReason === "length" || r.finishReason === "eos", true);
      assertThrows(
        () => engine.generate({ inputIds: new Array(121).fill(3), prefix }),
        hasCode("CONTEXT_OVERFLOW"),
      );
      await assertRejects(
        () => engine.logits({ inputIds: [new Array(ctx - 7).fill(3)], prefixes: [prefix] }),
        hasCode("CONTEXT_OVERFLOW"),
      );
      assertEquals(engine.contextLeft(8), 120);
      // Wrong width, wrong length, NaN.
      assertThrows(
        () =>
          engine.generate({
            inputIds: [3],
            prefix: { prefixLen: 2, kv: new Float32Array(2 * S + 1) },
          }),
        hasCode("PREFIX_MISMATCH"),
      );
      assertThrows(
        () =>
          engine.generate({ inputIds: [3], prefix: { prefixLen: 3, kv: new Float32Array(2 * S) } }),
        hasCode("PREFIX_MISMATCH"),
      );
      const nan = randomPrefix(S, 2);
      nan.kv[5] = NaN;
      assertThrows(() => engine.generate({ inputIds: [3], prefix: nan }), hasCode("INVALID_INPUT"));
      await assertRejects(
        () =>
          engine.logits({ inputIds: [[3]], prefixes: [{ prefixLen: 1, kv: new Float32Array(3) }] }),
        hasCode("PREFIX_MISMATCH"),
      );
      // Options.
      assertThrows(() => engine.generate({ prompt: "hi" }), hasCode("TOKENIZER_MISSING"));
      assertThrows(
        () => engine.generate({ inputIds: [3], stop: ["x"] }),
        hasCode("TOKENIZER_MISSING"),
      );
      assertThrows(() => engine.generate({}), hasCode("INVALID_INPUT"));
      assertThrows(() => engine.generate({ inputIds: [3], topP: 0 }), hasCode("INVALID_INPUT"));
      assertThrows(() => engine.generate({ inputIds: [3], numBeams: 0 }), hasCode("INVALID_INPUT"));
      assertThrows(
        () => engine.generateBatch([{ inputIds: [3] }, { inputIds: [3], temperature: -1 }]),
        (e) => {
          hasCode("INVALID_INPUT")(e);
          assert((e as Error).message.includes("row 1"), (e as Error).message);
        },
      );
      await assertRejects(
        () => engine.logits({ inputIds: [[1, 2], [3]] }),
        hasCode("INVALID_INPUT"),
      );
    } finally {
      await engine.dispose();
    }
    assertThrows(() => engine.generate({ inputIds: [3] }), hasCode("INVALID_INPUT"));
  },
});

Deno.test({
  name: "an explicit webgpu request without an adapter fails with GPU_UNAVAILABLE",
  ignore: navigator.gpu !== undefined && (await navigator.gpu.requestAdapter()) !== null,
  async fn() {
    const model = await loadModel(`${GPT2_TINY}/model`);
    await assertRejects(
      () => InferenceEngine.create(model, { executionProvider: "webgpu" }),
      hasCode("GPU_UNAVAILABLE"),
    );
  },
});
