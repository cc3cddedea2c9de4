/**
 * The HTTP server over real HTTP on loopback (Deno.serve on port 0), with the
 * fake engine and fake bundles: every route, each error code, streaming,
 * uploads, replacement during a request, eviction and cancellation.
 */
import {
  createApp,
  type CreateAppOptions,
  HttpBundleStore,
  MemoryBundleStore,
  type ServeApp,
} from "../../src/serve/mod.ts";
import { assert, assertEquals } from "../_assert.ts";
import {
  fakeBundle,
  fakeDecode,
  FakeEngine,
  fakePrefix,
  fakeText,
  parseSse,
  withServer,
} from "./_fakes.ts";

const TOKEN = "test-token-123";

function makeApp(over: Partial<CreateAppOptions> = {}): { app: ServeApp; engine: FakeEngine } {
  const engine = (over.engine as FakeEngine) ?? new FakeEngine();
  const app = createApp({
    engine,
    store: new MemoryBundleStore({
      alpha: fakeBundle("alpha", 1, 2, {
        createdAt: "2026-01-01",
        training: { steps: 10, data: [1, 2] },
      }),
      beta: fakeBundle("beta", 2, 3),
      broken: new TextEncoder().encode("garbage"),
    }),
    decode: fakeDecode,
    adminToken: TOKEN,
    scheduler: { maxBatch: 8, batchWindowMs: 10 },
    log: () => {},
    ...over,
  });
  return { app, engine };
}

async function serve(app: ServeApp, fn: (base: string) => Promise<void>) {
  try {
    await withServer(app.fetch, fn);
  } finally {
    app.serve.scheduler.close();
  }
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

async function expectError(res: Response, status: number, code: string) {
  const body = await res.json();
  assertEquals(res.status, status, JSON.stringify(body));
  assertEquals(body.error.code, code);
  assert(
    typeof body.error.message === "string" && body.error.message.startsWith("Cannot "),
    body.error.message,
  );
  assert(typeof body.error.type === "string");
}

Deno.test("GET /healthz, /v1/tasks and /v1/models describe the server and its tasks", async () => {
  const { app } = makeApp();
  await serve(app, async (base) => {
    const health = await (await fetch(`${base}/healthz`)).json();
    assertEquals(health.status, "ok");
    assertEquals(health.execution_provider, "fake");
    assertEquals(health.uploads_enabled, true);
    const tasks = await (await fetch(`${base}/v1/tasks`)).json();
    assertEquals(tasks.data.map((t: { task: string }) => t.task), ["alpha", "beta", "broken"]);
    assertEquals(tasks.data[0].manifest.prefixLen, 2);
    assertEquals(tasks.data[0].manifest.createdAt, "2026-01-01");
    assertEquals(tasks.data[0].manifest.training, { steps: 10 }, "only scalar training facts");
    assertEquals(tasks.data[2].error.code, "BUNDLE_CORRUPT");
    const models = await (await fetch(`${base}/v1/models`)).json();
    assertEquals(models.data.map((m: { id: string }) => m.id), ["base", "alpha", "beta"]);
  });
});

Deno.test("POST /v1/tasks/:task/generate answers JSON with text, ids, finish reason and usage", async () => {
  const { app } = makeApp();
  await serve(app, async (base) => {
    const res = await post(`${base}/v1/tasks/alpha/generate`, { prompt: "one two", max_tokens: 4 });
    const body = await res.json();
    assertEquals(res.status, 200);
    assertEquals(body.text, fakeText(fakePrefix(1), "one two", 4));
    assertEquals(body.token_ids.length, 4);
    assertEquals(body.finish_reason, "length");
    assertEquals(body.usage, { prompt_tokens: 2, completion_tokens: 4, total_tokens: 6 });
  });
});

Deno.test("POST /v1/tasks/:task/generate streams token events then a done event", async () => {
  const { app } = makeApp();
  await serve(app, async (base) => {
    const res = await post(`${base}/v1/tasks/beta/generate`, {
      prompt: "x",
      max_tokens: 3,
      stream: true,
    });
    assertEquals(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
    const frames = parseSse(await res.text());
    assertEquals(frames.map((f) => f.event), ["token", "token", "token", "done"]);
    const texts = frames.slice(0, 3).map((f) => JSON.parse(f.data).text).join("");
    const done = JSON.parse(frames[3].data);
    assertEquals(texts, fakeText(fakePrefix(2, 3), "x", 3));
    assertEquals(done.text, texts);
    assertEquals(done.finish_reason, "length");
  });
});

Deno.test("POST /v1/completions is OpenAI-compatible, with model = task or base", async () => {
  const { app } = makeApp();
  await serve(app, async (base) => {
    const res = await post(`${base}/v1/completions`, {
      model: "alpha",
      prompt: "hi there",
      max_tokens: 2,
      temperature: 0,
    });
    const body = await res.json();
    assertEquals(body.object, "text_completion");
    assert(body.id.startsWith("cmpl-"));
    assertEquals(body.model, "alpha");
    assertEquals(body.choices, [{
      text: fakeText(fakePrefix(1), "hi there", 2),
      index: 0,
      logprobs: null,
      finish_reason: "length",
    }]);
    assertEquals(body.usage.total_tokens, 4);
    const bare = await (await post(`${base}/v1/completions`, {
      model: "base",
      prompt: "hi there",
      max_tokens: 2,
    })).json();
    assertEquals(bare.choices[0].text, fakeText(null, "hi there", 2));
  });
});

Deno.test("POST /v1/completions streams OpenAI chunks and ends with data: [DONE]", async () => {
  const { app } = makeApp();
  await serve(app, async (base) => {
    const res = await post(`${base}/v1/completions`, {
      model: "alpha",
      prompt: "a",
      max_tokens: 3,
      stream: true,
      stream_options: { include_usage: true },
    });
    const frames = parseSse(await res.text());
    assertEquals(frames.at(-1)!.data, "[DONE]");
    const chunks = frames.slice(0, -1).map((f) => JSON.parse(f.data));
    assert(chunks.every((c) => c.object === "text_completion" && c.model === "alpha"));
    assertEquals(chunks.slice(0, 3).map((c) => c.choices[0].finish_reason), [null, null, null]);
    assertEquals(
      chunks.slice(0, 3).map((c) => c.choices[0].text).join(""),
      fakeText(fakePrefix(1), "a", 3),
    );
    assertEquals(chunks[3].choices[0].finish_reason, "length");
    assertEquals(chunks[4].usage.completion_tokens, 3);
  });
});

Deno.test("Every client error answers the one error shape with its status", async () => {
  const { app } = makeApp({ limits: { maxBodyBytes: 200, maxUploadBytes: 300 } });
  await serve(app, async (base) => {
    await expectError(
      await post(`${base}/v1/tasks/alpha/generate`, "{not json"),
      400,
      "INVALID_INPUT",
    );
    await expectError(
      await post(`${base}/v1/tasks/alpha/generate`, { prompt: 5 }),
      400,
      "INVALID_INPUT",
    );
    await expectError(
      await post(`${base}/v1/tasks/nope/generate`, { prompt: "a" }),
      404,
      "UNKNOWN_TASK",
    );
    await expectError(
      await post(`${base}/v1/tasks/Bad..Name/generate`, { prompt: "a" }),
      400,
      "INVALID_INPUT",
    );
    await expectError(
      await post(`${base}/v1/tasks/..%2F..%2Fetc/generate`, { prompt: "a" }),
      400,
      "INVALID_INPUT",
    );
    await expectError(
      await post(`${base}/v1/completions`, { model: "nope", prompt: "a" }),
      404,
      "model_not_found",
    );
    await expectError(
      await post(`${base}/v1/tasks/alpha/generate`, { prompt: "a".repeat(300) }),
      413,
      "PAYLOAD_TOO_LARGE",
    );
    // 32 positions, prefix 2: 20 prompt tokens + 20 new tokens do not fit.
    await expectError(
      await post(`${base}/v1/tasks/alpha/generate`, { prompt: "w ".repeat(20), max_tokens: 20 }),
      400,
      "CONTEXT_OVERFLOW",
    );
    await expectError(
      await post(`${base}/v1/tasks/broken/generate`, { prompt: "a" }),
      500,
      "TASK_LOAD_FAILED",
    );
    await expectError(await fetch(`${base}/v2/nothing`), 404, "ROUTE_NOT_FOUND");
    const wrongMethod = await fetch(`${base}/v1/completions`);
    assertEquals(wrongMethod.headers.get("allow"), "POST");
    await expectError(wrongMethod, 405, "METHOD_NOT_ALLOWED");
    await expectError(
      await fetch(`${base}/v1/tasks/alpha`, { method: "POST" }),
      405,
      "METHOD_NOT_ALLOWED",
    );
    // /metrics counts what the client got, under the route's pattern.
    const exposition = await (await fetch(`${base}/metrics`)).text();
    assert(
      exposition.includes('route="GET /v1/completions",status="405"'),
      exposition.split("\n").filter((l) => l.includes("405") || l.includes("404")).join("\n"),
    );
    assert(exposition.includes('route="POST /v1/tasks/:task",status="405"'));
    assert(exposition.includes('route="GET unmatched",status="404"'));
    assert(!exposition.includes('route="GET /*"'));
    const put = (task: string, body: BodyInit, auth?: string) =>
      fetch(`${base}/v1/tasks/${task}`, {
        method: "PUT",
        body,
        headers: auth ? { authorization: auth } : {},
      });
    await expectError(await put("gamma", fakeBundle("gamma", 3)), 401, "UNAUTHORIZED");
    await expectError(
      await put("gamma", fakeBundle("gamma", 3), "Bearer wrong"),
      401,
      "UNAUTHORIZED",
    );
    await expectError(
      await put("gamma", new Uint8Array(400), `Bearer ${TOKEN}`),
      413,
      "PAYLOAD_TOO_LARGE",
    );
    await expectError(
      await put("gamma", fakeBundle("gamma", 3, 2, { base: "x" }), `Bearer ${TOKEN}`),
      422,
      "BASE_MISMATCH",
    );
    await expectError(await put("gamma", "garbage", `Bearer ${TOKEN}`), 422, "BUNDLE_CORRUPT");
    await expectError(
      await put("base", fakeBundle("base", 3), `Bearer ${TOKEN}`),
      400,
      "INVALID_INPUT",
    );
    await expectError(
      await fetch(`${base}/v1/tasks/gamma`, {
        method: "DELETE",
        headers: { authorization: `Bearer ${TOKEN}` },
      }),
      404,
      "UNKNOWN_TASK",
    );
    // The failed task left the others untouched.
    assertEquals(
      (await post(`${base}/v1/tasks/alpha/generate`, { prompt: "a", max_tokens: 1 })).status,
      200,
    );
  });
});

Deno.test("PUT and DELETE are off (403) without a configured token", async () => {
  const { app } = makeApp({ adminToken: null });
  await serve(app, async (base) => {
    await expectError(
      await fetch(`${base}/v1/tasks/gamma`, {
        method: "PUT",
        body: fakeBundle("gamma", 3),
        headers: { authorization: "Bearer x" },
      }),
      403,
      "ADMIN_DISABLED",
    );
    await expectError(
      await fetch(`${base}/v1/tasks/alpha`, { method: "DELETE" }),
      403,
      "ADMIN_DISABLED",
    );
  });
});

Deno.test("A full queue answers 429 and a slow request answers 504", async () => {
  const engine = new FakeEngine();
  engine.stepMs = 20;
  const { app } = makeApp({
    engine,
    scheduler: { maxBatch: 1, maxQueue: 1, batchWindowMs: 0, requestTimeoutMs: 150 },
  });
  await serve(app, async (base) => {
    const first = post(`${base}/v1/tasks/alpha/generate`, { prompt: "a", max_tokens: 20 });
    await new Promise((r) => setTimeout(r, 30));
    const second = post(`${base}/v1/tasks/alpha/generate`, { prompt: "a", max_tokens: 1 });
    await new Promise((r) => setTimeout(r, 30));
    await expectError(
      await post(`${base}/v1/tasks/alpha/generate`, { prompt: "a", max_tokens: 1 }),
      429,
      "QUEUE_FULL",
    );
    await expectError(await first, 504, "TIMEOUT");
    // The queued request's own deadline started when it arrived; it may or
    // may not fit in what is left, so only its shape is checked.
    const secondRes = await second;
    assert([200, 504].includes(secondRes.status));
    await secondRes.body?.cancel();
  });
});

Deno.test("An uploaded bundle is used at once, and replacing it mid-request leaves that request on the old one", async () => {
  const engine = new FakeEngine();
  engine.stepMs = 10;
  const { app } = makeApp({ engine });
  await serve(app, async (base) => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const up = await fetch(`${base}/v1/tasks/gamma`, {
      method: "PUT",
      body: fakeBundle("gamma", 7),
      headers: auth,
    });
    assertEquals(up.status, 201);
    assertEquals((await up.json()).replaced, false);
    const gen = async () =>
      (await (await post(`${base}/v1/tasks/gamma/generate`, { prompt: "z", max_tokens: 10 }))
        .json()).text;
    assertEquals(await gen(), fakeText(fakePrefix(7), "z", 10));
    const during = gen(); // runs ~100 ms on prefix 7
    await new Promise((r) => setTimeout(r, 40));
    const re = await fetch(`${base}/v1/tasks/gamma`, {
      method: "PUT",
      body: fakeBundle("gamma", 8),
      headers: auth,
    });
    assertEquals(re.status, 200);
    assertEquals((await re.json()).replaced, true);
    assertEquals(
      await during,
      fakeText(fakePrefix(7), "z", 10),
      "in-flight request finished on the old bundle",
    );
    assertEquals(
      await gen(),
      fakeText(fakePrefix(8), "z", 10),
      "the next request uses the new bundle",
    );
    const del = await fetch(`${base}/v1/tasks/gamma`, { method: "DELETE", headers: auth });
    assertEquals((await del.json()).deleted, true);
    await expectError(
      await post(`${base}/v1/tasks/gamma/generate`, { prompt: "z" }),
      404,
      "UNKNOWN_TASK",
    );
  });
});

Deno.test("A tiny cache budget evicts tasks and they reload on the next use", async () => {
  // One fake prefix of P=2 is 32 bytes; P=3 is 48. A 50-byte budget holds one task.
  const { app } = makeApp({ budgetBytes: 50 });
  await serve(app, async (base) => {
    for (const task of ["alpha", "beta", "alpha", "beta"]) {
      const res = await post(`${base}/v1/tasks/${task}/generate`, { prompt: "q", max_tokens: 1 });
      assertEquals(res.status, 200);
      await res.body?.cancel();
    }
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert(metrics.includes("prefix_edge_task_evictions_total 3\n"), metrics);
    assert(metrics.includes('prefix_edge_task_loads_total{result="ok"} 4\n'), metrics);
    assert(metrics.includes("prefix_edge_tasks_loaded 1\n"), metrics);
  });
});

Deno.test("A client that leaves a stream cancels its row", async () => {
  const engine = new FakeEngine();
  engine.stepMs = 10;
  const { app } = makeApp({ engine });
  await serve(app, async (base) => {
    const client = new AbortController();
    const res = await fetch(`${base}/v1/tasks/alpha/generate`, {
      method: "POST",
      body: JSON.stringify({ prompt: "a", max_tokens: 25, stream: true }),
      signal: client.signal,
    });
    const reader = res.body!.getReader();
    await reader.read(); // the first token arrived
    client.abort();
    await reader.cancel().catch(() => {});
    const deadline = Date.now() + 2000;
    while (engine.live > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assertEquals(engine.live, 0, "the engine row stopped");
    const row = engine.calls[0].rows[0];
    assert(row.signal!.aborted, "the row's signal was aborted");
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert(metrics.includes('prefix_edge_cancelled_total{reason="client"} 1'), metrics);
  });
});

Deno.test("A mixed-task batch gives each row what it gives alone, and /metrics counts tasks per batch", async () => {
  const { app, engine } = makeApp({ scheduler: { maxBatch: 8, batchWindowMs: 50 } });
  await serve(app, async (base) => {
    const reqs = [["alpha", "a b"], ["beta", "c"], ["base", "d e f"], ["alpha", "g"]];
    const together = await Promise.all(
      reqs.map(async ([model, prompt]) =>
        (await (await post(`${base}/v1/completions`, {
          model,
          prompt,
          max_tokens: 5,
          temperature: 0,
        })).json())
          .choices[0].text
      ),
    );
    assertEquals(engine.calls.length, 1, "one engine batch");
    const alone: string[] = [];
    for (const [model, prompt] of reqs) {
      const body = await (await post(`${base}/v1/completions`, {
        model,
        prompt,
        max_tokens: 5,
        temperature: 0,
      })).json();
      alone.push(body.choices[0].text);
    }
    assertEquals(together, alone);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert(metrics.includes('prefix_edge_tasks_per_batch_bucket{le="2"} 4'), metrics);
    assert(metrics.includes("prefix_edge_tasks_per_batch_sum 7\n"), metrics);
    assert(
      metrics.includes('prefix_edge_requests_total{route="POST /v1/completions",status="200"} 8'),
      metrics,
    );
    assert(metrics.includes("prefix_edge_request_duration_seconds_bucket"), metrics);
    assert(metrics.includes("prefix_edge_queue_depth 0"), metrics);
  });
});

Deno.test("A server on an HTTP bundle store serves its tasks and refuses uploads with 405", async () => {
  const files: Record<string, Uint8Array<ArrayBuffer>> = {
    "/b/remote.prefix.zip": fakeBundle("remote", 6),
  };
  await withServer((req) => {
    const body = files[new URL(req.url).pathname];
    return body ? new Response(body) : new Response("no", { status: 404 });
  }, async (storeBase) => {
    const { app } = makeApp({ store: new HttpBundleStore(`${storeBase}/b`) });
    await serve(app, async (base) => {
      const res = await post(`${base}/v1/completions`, {
        model: "remote",
        prompt: "a b",
        max_tokens: 3,
      });
      assertEquals((await res.json()).choices[0].text, fakeText(fakePrefix(6), "a b", 3));
      await expectError(
        await post(`${base}/v1/completions`, { model: "gone", prompt: "a" }),
        404,
        "model_not_found",
      );
      const put = await fetch(`${base}/v1/tasks/remote`, {
        method: "PUT",
        body: fakeBundle("remote", 7),
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      await expectError(put, 405, "STORE_READ_ONLY");
      const tasks = await (await fetch(`${base}/v1/tasks`)).json();
      assertEquals(
        tasks.data.map((t: { task: string }) => t.task),
        ["remote"],
        "tasks seen so far",
      );
    });
  });
});

Deno.test("A stream that times out ends with an error event in the one error shape", async () => {
  const engine = new FakeEngine();
  engine.stepMs = 20;
  const { app } = makeApp({ engine, scheduler: { batchWindowMs: 0, requestTimeoutMs: 70 } });
  await serve(app, async (base) => {
    const res = await post(`${base}/v1/tasks/alpha/generate`, {
      prompt: "a",
      max_tokens: 20,
      stream: true,
    });
    assertEquals(res.status, 200);
    const frames = parseSse(await res.text());
    assert(frames.some((f) => f.event === "token"), "some tokens came first");
    const last = frames.at(-1)!;
    assertEquals(last.event, "error");
    assertEquals(JSON.parse(last.data).error.code, "TIMEOUT");
    const oa = await post(`${base}/v1/completions`, {
      model: "alpha",
      prompt: "a",
      max_tokens: 20,
      stream: true,
    });
    const oaFrames = parseSse(await oa.text());
    assertEquals(oaFrames.at(-1)!.data, "[DONE]");
    assertEquals(JSON.parse(oaFrames.at(-2)!.data).error.code, "TIMEOUT");
  });
});
