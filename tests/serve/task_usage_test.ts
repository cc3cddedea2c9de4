/**
 * A task's bundle says how its prefix was trained to be prompted and which generation defaults
 * suit it; every generation route applies them to requests for that task, and leaves `base`
 * and older bundles (without those fields) as they were. Over real HTTP with the fake engine,
 * which records the rows it was asked to generate.
 */
import { createApp, MemoryBundleStore } from "../../src/serve/mod.ts";
import { applyChatTemplate } from "../../src/model/mod.ts";
import { assertEquals } from "../_assert.ts";
import { fakeBundle, fakeDecode, FakeEngine, withServer } from "./_fakes.ts";

const USAGE = {
  prompt: { template: "{input} ||", separator: " ||", addSpecialTokens: true },
  generation: { temperature: 0, maxNewTokens: 5, stop: ["The end."], eosTokenIds: [1] },
};

class EosEngine extends FakeEngine {
  readonly eosTokenIds = [2];
}

async function serve(fn: (base: string, engine: FakeEngine) => Promise<void>) {
  const engine = new EosEngine();
  const app = createApp({
    engine,
    store: new MemoryBundleStore({
      story: fakeBundle("story", 1, 2, USAGE),
      old: fakeBundle("old", 2, 2),
    }),
    decode: fakeDecode,
    scheduler: { maxBatch: 4, batchWindowMs: 1 },
    log: () => {},
  });
  try {
    await withServer(app.fetch, (base) => fn(base, engine));
  } finally {
    app.serve.scheduler.close();
  }
}

const post = (url: string, body: unknown) =>
  fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  }).then(async (r) => ({ status: r.status, body: await r.json() }));

const lastRow = (engine: FakeEngine) => engine.calls.at(-1)!.rows.at(-1)!;

Deno.test("a completion for a task gets its separator and its generation defaults", async () => {
  await serve(async (base, engine) => {
    const r = await post(`${base}/v1/completions`, { model: "story", prompt: "name: Max" });
    assertEquals(r.status, 200, JSON.stringify(r.body));
    const row = lastRow(engine);
    assertEquals(row.prompt, "name: Max ||");
    assertEquals([row.maxNewTokens, row.temperature, row.stop], [5, 0, ["The end."]]);
    assertEquals(row.eosTokenIds, [1, 2], "the task's end token, then the engine's EOS");
    // A prompt that has the separator is kept; what the request sets wins.
    await post(`${base}/v1/completions`, {
      model: "story",
      prompt: "name: Max ||",
      max_tokens: 3,
      temperature: 0.5,
      stop: ["!"],
    });
    const given = lastRow(engine);
    assertEquals(
      [given.prompt, given.maxNewTokens, given.temperature, given.stop],
      ["name: Max ||", 3, 0.5, ["!"]],
    );
  });
});

Deno.test("a chat for a task uses the last user message as the task's input", async () => {
  await serve(async (base, engine) => {
    const r = await post(`${base}/v1/chat/completions`, {
      model: "story",
      messages: [
        { role: "user", content: "name: Sue" },
        { role: "assistant", content: "..." },
        { role: "user", content: "name: Max" },
      ],
    });
    assertEquals(r.status, 200, JSON.stringify(r.body));
    const row = lastRow(engine);
    assertEquals([row.prompt, row.maxNewTokens, row.temperature], ["name: Max ||", 5, 0]);
    const none = await post(`${base}/v1/chat/completions`, {
      model: "story",
      messages: [{ role: "system", content: "x" }],
    });
    assertEquals(none.status, 400);
    assertEquals(none.body.error.param, "messages");
  });
});

Deno.test("the native generate route applies a task's defaults too", async () => {
  await serve(async (base, engine) => {
    const r = await post(`${base}/v1/tasks/story/generate`, { prompt: "name: Max" });
    assertEquals(r.status, 200, JSON.stringify(r.body));
    const row = lastRow(engine);
    assertEquals([row.prompt, row.maxNewTokens, row.eosTokenIds], ["name: Max ||", 5, [1, 2]]);
  });
});

Deno.test("base and bundles without usage keep the routes' defaults and prompts as given", async () => {
  await serve(async (base, engine) => {
    for (const model of ["base", "old"]) {
      await post(`${base}/v1/completions`, { model, prompt: "name: Max" });
      const row = lastRow(engine);
      assertEquals(
        [row.prompt, row.maxNewTokens, row.temperature, row.stop, row.eosTokenIds],
        ["name: Max", 16, 1, [], undefined],
        model,
      );
      const messages = [{ role: "user", content: "name: Max" }];
      await post(`${base}/v1/chat/completions`, { model, messages, max_tokens: 4 });
      assertEquals(lastRow(engine).prompt, applyChatTemplate({}, messages), model);
    }
  });
});

Deno.test("a bad request to a task fails before its bundle is read", async () => {
  await serve(async (base) => {
    const r = await post(`${base}/v1/completions`, { model: "story", prompt: 7 });
    assertEquals(r.status, 400);
    assertEquals(r.body.error.param, "prompt");
    const unknown = await post(`${base}/v1/completions`, { model: "nope", prompt: "x" });
    assertEquals(unknown.status, 404);
  });
});
