/** Streaming text: deltas concatenate to the text; stop strings are held back, never streamed. */
import { assertEquals } from "../_assert.ts";
import { STORIES } from "../_fixtures.ts";
import { TextDelta } from "../../src/infer/text_delta.ts";
import { loadModel } from "../../src/model/mod.ts";

const tok = (await loadModel(STORIES)).requireTokenizer();

Deno.test("deltas keep the leading space a SentencePiece decode would strip", () => {
  const prompt = tok.encode("Once upon a time");
  const gen = tok.encode(" there was a girl", { addSpecialTokens: false }).slice(0);
  const d = new TextDelta(tok, prompt, []);
  const text = gen.map((id) => d.push(id).delta).join("");
  assertEquals(text, tok.decode([...prompt, ...gen]).slice("Once upon a time".length));
});

Deno.test("a stop string split across tokens is held back and cut", () => {
  const ids = tok.encode("Lily went home. The end", { addSpecialTokens: false });
  const d = new TextDelta(tok, [1], ["home."]);
  const deltas: string[] = [];
  let stopped = false;
  for (const id of ids) {
    const s = d.push(id);
    deltas.push(s.delta);
    if (s.stopped) {
      stopped = true;
      break;
    }
  }
  assertEquals(stopped, true);
  assertEquals(deltas.join(""), "Lily went ");
  assertEquals(d.text, "Lily went ");
});

Deno.test("an incomplete UTF-8 sequence is not streamed until it completes", () => {
  const ids = tok.encode("£", { addSpecialTokens: false }); // byte fallback: two byte tokens
  const d = new TextDelta(tok, [1], []);
  const first = d.push(ids[ids.length - 2]).delta;
  const second = d.push(ids[ids.length - 1]).delta;
  assertEquals(first.includes("\uFFFD"), false);
  assertEquals((first + second).endsWith("£"), true);
});
