import { PrefixEdgeError } from "../../src/errors/mod.ts";
import {
  DEFAULT_LIMITS,
  parseCompletionBody,
  parseGenerateBody,
  validateTaskName,
} from "../../src/serve/mod.ts";
import { assert, assertEquals, assertThrows } from "../_assert.ts";

const invalid = (e: unknown) =>
  assert(e instanceof PrefixEdgeError && e.code === "INVALID_INPUT", String(e));

Deno.test("validateTaskName accepts safe names and refuses path tricks", () => {
  for (const ok of ["a", "sentiment-v2", "x.y_z", "0" + "a".repeat(63)]) validateTaskName(ok);
  for (
    const bad of [
      "",
      "../etc",
      "a/b",
      "a..b",
      ".hidden",
      "Upper",
      "a b",
      "%2e%2e",
      "a".repeat(65),
      "a\\b",
    ]
  ) {
    assertThrows(() => validateTaskName(bad), invalid);
  }
  assertThrows(() => validateTaskName(42), invalid);
});

Deno.test("parseGenerateBody applies greedy defaults and reads every field", () => {
  const d = parseGenerateBody({ prompt: "hi" }, "t", DEFAULT_LIMITS);
  assertEquals([d.maxTokens, d.temperature, d.topP, d.numBeams, d.stream], [64, 0, 1, 1, false]);
  const p = parseGenerateBody(
    {
      prompt: "hi",
      max_tokens: 5,
      temperature: 0.7,
      top_p: 0.9,
      seed: 7,
      num_beams: 2,
      stop: ["\n"],
      stream: true,
    },
    "t",
    DEFAULT_LIMITS,
  );
  assertEquals(
    [p.maxTokens, p.temperature, p.topP, p.seed, p.numBeams, p.stop, p.stream],
    [5, 0.7, 0.9, 7, 2, ["\n"], true],
  );
});

Deno.test("parseGenerateBody refuses out-of-range and mistyped fields, naming the field", () => {
  const cases: Record<string, unknown>[] = [
    {},
    { prompt: 3 },
    { prompt: "x", max_tokens: 0 },
    { prompt: "x", max_tokens: DEFAULT_LIMITS.maxTokens + 1 },
    { prompt: "x", max_tokens: 1.5 },
    { prompt: "x", temperature: -1 },
    { prompt: "x", top_p: 2 },
    { prompt: "x", num_beams: 99 },
    { prompt: "x", stop: [1] },
    { prompt: "x", stop: ["a", "b", "c", "d", "e"] },
    { prompt: "x", stream: "yes" },
    { prompt: "x", seed: -1 },
  ];
  for (const body of cases) {
    assertThrows(() => parseGenerateBody(body, "t", DEFAULT_LIMITS), invalid);
  }
  assertThrows(() => parseGenerateBody({ prompt: "x" }, "../x", DEFAULT_LIMITS), invalid);
});

Deno.test("parseCompletionBody follows OpenAI: model names the task, prompt may be a one-string array", () => {
  const p = parseCompletionBody({ model: "base", prompt: ["hello"], stop: "\n" }, DEFAULT_LIMITS);
  assertEquals([p.task, p.prompt, p.maxTokens, p.temperature, p.stop], ["base", "hello", 16, 1, [
    "\n",
  ]]);
  for (
    const body of [
      { prompt: "x" },
      { model: "A", prompt: "x" },
      { model: "t", prompt: ["a", "b"] },
      { model: "t", prompt: "x", n: 2 },
      { model: "t", prompt: "x", echo: true },
      { model: "t", prompt: "x", logprobs: 1 },
    ]
  ) {
    assertThrows(() => parseCompletionBody(body, DEFAULT_LIMITS), invalid);
  }
});
