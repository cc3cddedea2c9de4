/** IO discovery by name: Optimum names, int32 ids, merged decoders, refusals. */
import { assertEquals, assertThrows } from "../_assert.ts";
import { discoverSessionIO } from "../../src/infer/session_io.ts";
import type { PrefixEdgeError } from "../../src/errors/mod.ts";
import { parseConfig } from "../../src/model/mod.ts";

const config = parseConfig({
  model_type: "gpt2",
  n_layer: 2,
  n_head: 2,
  n_embd: 8,
  n_positions: 16,
  vocab_size: 10,
});
const past = ["0.key", "0.value", "1.key", "1.value"];

Deno.test("a merged decoder with int32 ids is discovered by name", () => {
  const io = discoverSessionIO(
    ["input_ids", "attention_mask", "use_cache_branch", ...past.map((p) => `past_key_values.${p}`)],
    ["logits", ...past.map((p) => `present.${p}`)],
    [{ name: "input_ids", type: "int32" }, { name: "attention_mask", type: "int32" }],
    config,
    "g.onnx",
  );
  assertEquals(io.useCacheBranch, "use_cache_branch");
  assertEquals(io.positionIds, undefined);
  assertEquals(io.intTypes, { input_ids: "int32", attention_mask: "int32" });
  assertEquals(io.past[1], { key: "past_key_values.1.key", value: "past_key_values.1.value" });
  assertEquals(io.present[0].value, "present.0.value");
});

Deno.test("a graph without a KV cache or with fp16 caches is refused as UNSUPPORTED_MODEL", () => {
  const check = (e: unknown) => assertEquals((e as PrefixEdgeError).code, "UNSUPPORTED_MODEL");
  assertThrows(
    () => discoverSessionIO(["input_ids", "attention_mask"], ["logits"], [], config, "g.onnx"),
    check,
  );
  assertThrows(
    () =>
      discoverSessionIO(
        ["input_ids", ...past.map((p) => `past_key_values.${p}`)],
        ["logits", ...past.map((p) => `present.${p}`)],
        [{ name: "past_key_values.0.key", type: "float16" }],
        config,
        "g.onnx",
      ),
    check,
  );
});
