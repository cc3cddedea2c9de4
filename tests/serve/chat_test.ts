/**
 * OpenAI chat (`POST /v1/chat/completions`), `GET /v1/models/:id`, OpenAI error names and CORS,
 * over real HTTP with the fake engine; chat templates rendered with @huggingface/jinja.
 */
import { createApp, type CreateAppOptions, MemoryBundleStore } from "../../src/serve/mod.ts";
import { applyChatTemplate, TextTokenizer } from "../../src/model/mod.ts";
import { PrefixEdgeError } from "../../src/errors/mod.ts";
import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { STORIES } from "../_fixtures.ts";
import {
  fakeBundle,
  fakeDecode,
  FakeEngine,
  fakePrefix,
  fakeText,
  parseSse,
  withServer,
} from "./_fakes.ts";

function app(over: Partial<CreateAppOptions> = {}) {
  return createApp({
    engine: new FakeEngine(),
    store: new MemoryBundleStore({ alpha: fakeBundle("alpha", 1, 2) }),
    decode: fakeDecode,
    scheduler: { maxBatch: 4, batchWindowMs: 1 },
    log: () => {},
    ...over,
  });
}

async function serve(over: Partial<CreateAppOptions>, fn: (base: string) => Promise<void>) {
  const a = app(over);
  try {
    await withServer(a.fetch, fn);
  } finally {
    a.serve.scheduler.close();
  }
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });

const USER = [{ role: "user", content: "a b" }];
// The fake engine counts prompt words; the plain fallback renders "User: a b\nAssistant:".
const PLAIN = applyChatTemplate({}, USER);

Deno.test("POST /v1/chat/completions answers an OpenAI chat.completion, with model = task", async () => {
  await serve({}, async (base) => {
    const res = await post(`${base}/v1/chat/completions`, {
      model: "alpha",
      messages: USER,
      max_completion_tokens: 3,
    });
    const body = await res.json();
    assertEquals(res.status, 200, JSON.stringify(body));
    assertEquals(body.object, "chat.completion");
    assert(body.id.startsWith("chatcmpl-"));
    assertEquals(body.model, "alpha");
    assertEquals(body.choices[0].message.role, "assistant");
    assertEquals(body.choices[0].message.content, fakeText(fakePrefix(1), PLAIN, 3));
    assertEquals(body.choices[0].finish_reason, "length");
    assertEquals(body.usage.completion_tokens, 3);
    assertEquals(body.usage.total_tokens, body.usage.prompt_tokens + 3);
  });
});

Deno.test("streamed chat sends a role delta, content deltas, a finish chunk, usage, then [DONE]", async () => {
  await serve({}, async (base) => {
    const res = await post(`${base}/v1/chat/completions`, {
      model: "base",
      messages: [{ role: "system", content: "be brief" }, ...USER],
      max_tokens: 4,
      stream: true,
      stream_options: { include_usage: true },
    });
    assertEquals(res.headers.get("content-type")?.split(";")[0], "text/event-stream");
    const frames = parseSse(await res.text());
    assertEquals(frames.at(-1)!.data, "[DONE]");
    const chunks = frames.slice(0, -1).map((f) => JSON.parse(f.data));
    assert(chunks.every((c) => c.object === "chat.completion.chunk" && c.model === "base"));
    assertEquals(chunks[0].choices[0].delta, { role: "assistant", content: "" });
    const content = chunks.slice(1, 5).map((c) => c.choices[0].delta.content).join("");
    const prompt = applyChatTemplate({}, [{ role: "system", content: "be brief" }, ...USER]);
    assertEquals(content, fakeText(null, prompt, 4));
    assertEquals(chunks[5].choices[0].finish_reason, "length");
    assertEquals(chunks[5].choices[0].delta, {});
    assertEquals(chunks[6].choices, []);
    assertEquals(chunks[6].usage.completion_tokens, 4);
    assertEquals(chunks.length, 7);
  });
});

Deno.test("chat errors carry OpenAI's param and code names", async () => {
  await serve({}, async (base) => {
    const check = async (res: Response, status: number, code: string, param: string | null) => {
      const body = await res.json();
      assertEquals([res.status, body.error.code, body.error.param], [status, code, param]);
      assert(body.error.message.startsWith("Cannot "), body.error.message);
    };
    await check(
      await post(`${base}/v1/chat/completions`, { model: "nope", messages: USER }),
      404,
      "model_not_found",
      "model",
    );
    await check(
      await post(`${base}/v1/chat/completions`, { model: "alpha", messages: [] }),
      400,
      "INVALID_INPUT",
      "messages",
    );
    await check(
      await post(`${base}/v1/chat/completions`, {
        model: "alpha",
        messages: [{ role: "wizard", content: "x" }],
      }),
      400,
      "INVALID_INPUT",
      "messages",
    );
    await check(
      await post(`${base}/v1/chat/completions`, { model: "alpha", messages: USER, n: 2 }),
      400,
      "INVALID_INPUT",
      "n",
    );
    await check(
      await post(`${base}/v1/chat/completions`, {
        model: "alpha",
        messages: USER,
        tools: [{ type: "function" }],
      }),
      400,
      "INVALID_INPUT",
      "tools",
    );
    // 32 positions: 200 words do not fit.
    await check(
      await post(`${base}/v1/chat/completions`, {
        model: "alpha",
        messages: [{ role: "user", content: "w ".repeat(200) }],
      }),
      400,
      "context_length_exceeded",
      "messages",
    );
    // The native route keeps the project's own codes.
    await check(
      await post(`${base}/v1/tasks/nope/generate`, { prompt: "a" }),
      404,
      "UNKNOWN_TASK",
      null,
    );
    const wrong = await fetch(`${base}/v1/chat/completions`);
    assertEquals(wrong.headers.get("allow"), "POST");
    await check(wrong, 405, "METHOD_NOT_ALLOWED", null);
  });
});

Deno.test("GET /v1/models/:id returns one model, or model_not_found", async () => {
  await serve({}, async (base) => {
    assertEquals(await (await fetch(`${base}/v1/models/alpha`)).json(), {
      id: "alpha",
      object: "model",
      created: 0,
      owned_by: "prefix-edge",
    });
    assertEquals((await (await fetch(`${base}/v1/models/base`)).json()).id, "base");
    const missing = await fetch(`${base}/v1/models/nope`);
    assertEquals(missing.status, 404);
    assertEquals((await missing.json()).error.code, "model_not_found");
  });
});

const preflight = (base: string, origin: string) =>
  fetch(`${base}/v1/chat/completions`, {
    method: "OPTIONS",
    headers: {
      origin,
      "access-control-request-method": "POST",
      "access-control-request-headers": "content-type,authorization",
    },
  });

Deno.test("CORS: a preflight gets the headers with cors set, and none without", async () => {
  await serve({ cors: "https://app.example,http://localhost:5173" }, async (base) => {
    const ok = await preflight(base, "https://app.example");
    await ok.body?.cancel();
    assertEquals(ok.status, 204);
    assertEquals(ok.headers.get("access-control-allow-origin"), "https://app.example");
    assert(ok.headers.get("access-control-allow-methods")?.includes("POST"));
    assertEquals(ok.headers.get("access-control-allow-headers"), "content-type,authorization");
    const other = await preflight(base, "https://evil.example");
    await other.body?.cancel();
    assertEquals(other.headers.get("access-control-allow-origin"), null);
    const res = await post(`${base}/v1/chat/completions`, {
      model: "base",
      messages: USER,
      max_tokens: 1,
    }, { origin: "http://localhost:5173" });
    await res.body?.cancel();
    assertEquals(res.headers.get("access-control-allow-origin"), "http://localhost:5173");
  });
  await serve({ cors: "*" }, async (base) => {
    const any = await preflight(base, "https://anyone.example");
    await any.body?.cancel();
    assertEquals(any.headers.get("access-control-allow-origin"), "*");
  });
  await serve({}, async (base) => {
    const off = await preflight(base, "https://app.example");
    await off.body?.cancel();
    assert(![...off.headers.keys()].some((k) => k.startsWith("access-control-")));
    assert(off.status !== 204);
  });
  assertThrows(() => app({ cors: "app.example/path" }), (e) => {
    assert(e instanceof PrefixEdgeError && e.code === "INVALID_INPUT", String(e));
  });
});

Deno.test("chat templates render with @huggingface/jinja; models without one use the plain fallback", async () => {
  const template =
    "{{ bos_token }}{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}{{ eos_token }}\n{% endfor %}" +
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}";
  const json = await Deno.readFile(`${STORIES}/tokenizer.json`);
  const config = JSON.parse(await Deno.readTextFile(`${STORIES}/tokenizer_config.json`));
  const withTemplate = await TextTokenizer.fromBytes(
    json,
    new TextEncoder().encode(JSON.stringify({ ...config, chat_template: template })),
    "inline",
  );
  const messages = [
    { role: "system", content: "Tell stories." },
    { role: "user", content: "A cat?" },
  ];
  // stories260K's tokenizer adds BOS itself, so the template's leading <s> is dropped.
  assertEquals(
    withTemplate.applyChatTemplate(messages),
    "<|system|>\nTell stories.</s>\n<|user|>\nA cat?</s>\n<|assistant|>\n",
  );
  const named = await TextTokenizer.fromBytes(
    json,
    new TextEncoder().encode(
      JSON.stringify({
        ...config,
        chat_template: [{ name: "default", template: "{{ messages[0].content }}!" }],
      }),
    ),
    "inline",
  );
  assertEquals(named.applyChatTemplate(messages), "Tell stories.!");
  const plain = await TextTokenizer.fromBytes(
    json,
    new TextEncoder().encode(JSON.stringify(config)),
    "x",
  );
  assertEquals(plain.chatTemplate, undefined);
  assertEquals(plain.applyChatTemplate(messages), "Tell stories.\n\nUser: A cat?\nAssistant:");
  assertThrows(
    () => applyChatTemplate({ chatTemplate: "{% if %}" }, messages),
    (e) => assert(e instanceof PrefixEdgeError && e.code === "CONFIG_INVALID", String(e)),
  );
  const raising = "{{ raise_exception('roles must alternate') }}";
  assertThrows(
    () => applyChatTemplate({ chatTemplate: raising }, messages),
    (e) => {
      assert(e instanceof PrefixEdgeError && e.code === "INVALID_INPUT", String(e));
      assertEquals(e.param, "messages");
    },
  );
});
