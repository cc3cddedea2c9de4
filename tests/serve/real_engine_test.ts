/**
 * The server with the real inference engine (WASM EP) and real bundles, on
 * gpt2-text (tiny random GPT-2, GPT-2 tokenizer cut to 1000 ids; text in, text out), over
 * real HTTP on loopback.
 */
import { loadTaskPrefix, PrefixBundle } from "../../src/bundle/mod.ts";
import { InferenceEngine } from "../../src/infer/mod.ts";
import { loadModel } from "../../src/model/mod.ts";
import { bundleDecoder, createApp, FolderBundleStore, type ServeApp } from "../../src/serve/mod.ts";
import { assert, assertEquals } from "../_assert.ts";
import { FIXTURES, GPT2_TOK, LLAMA_TINY, STORIES } from "../_fixtures.ts";
import { metricValue, parseSse, withServer } from "./_fakes.ts";
import { randomPrefix, realBundle } from "./_real_bundle.ts";

/** Whether npm:onnxruntime-node loads here (it is optional). */
const NO_NATIVE = await import("onnxruntime-node").then(() => false, () => true);

const TOKEN = "real-engine-token";

async function withRealServer(
  fn: (base: string, app: ServeApp) => Promise<void>,
  executionProvider: "wasm" | "native" = "wasm",
  draftTokens?: number,
) {
  const model = await loadModel(GPT2_TOK);
  const engine = await InferenceEngine.create(model, { executionProvider, draftTokens });
  const dir = await Deno.makeTempDir();
  // Different prefix lengths, so a mixed batch also mixes padding.
  await Deno.writeFile(`${dir}/alpha.prefix.zip`, await realBundle(model, "alpha", 3, 1));
  await Deno.writeFile(`${dir}/beta.prefix.zip`, await realBundle(model, "beta", 7, 2));
  await Deno.writeFile(`${dir}/gamma.prefix.zip`, await realBundle(model, "gamma", 5, 3));
  const app = createApp({
    engine,
    store: new FolderBundleStore(dir),
    decode: bundleDecoder(model),
    adminToken: TOKEN,
    scheduler: { maxBatch: 8, batchWindowMs: 200 },
    log: () => {},
  });
  try {
    await withServer(app.fetch, (base) => fn(base, app));
  } finally {
    app.serve.scheduler.close();
    await engine.dispose();
    await Deno.remove(dir, { recursive: true });
  }
}

const complete = async (base: string, model: string, prompt: string, extra = {}) => {
  const res = await fetch(`${base}/v1/completions`, {
    method: "POST",
    body: JSON.stringify({ model, prompt, max_tokens: 8, temperature: 0, ...extra }),
  });
  const body = await res.json();
  assertEquals(res.status, 200, JSON.stringify(body));
  return body;
};

Deno.test("A mixed-task batch on the real engine gives each row exactly what it gives alone (greedy)", async () => {
  await withRealServer(async (base, app) => {
    const reqs: [string, string][] = [
      ["alpha", "Hello world"],
      ["beta", "The quick brown fox"],
      ["base", "Hello world"],
      ["gamma", "Once upon a time there"],
      ["alpha", "A"],
    ];
    // Load the bundles first, so that all five requests reach the queue within the window.
    for (const t of ["alpha", "beta", "gamma"]) await app.serve.registry.get(t);
    const together = await Promise.all(reqs.map(([m, p]) => complete(base, m, p)));
    const metrics = app.serve.metrics;
    assertEquals(metrics.batches.get(), 1, "the five requests ran as one engine batch");
    assertEquals(metrics.tasksPerBatch.get(), { count: 1, sum: 4 });
    const alone = [];
    for (const [m, p] of reqs) alone.push(await complete(base, m, p));
    assertEquals(
      together.map((b) => b.choices[0].text),
      alone.map((b) => b.choices[0].text),
    );
    assertEquals(together.map((b) => b.usage), alone.map((b) => b.usage));
    // The prefixes matter: the same prompt gives different text per task.
    const texts = new Set([together[0], together[2]].map((b) => b.choices[0].text));
    assertEquals(texts.size, 2, "alpha and base differ on the same prompt");
  });
});

for (const ep of ["wasm", "native"] as const) {
  Deno.test({
    name:
      `A request that arrives while another decodes joins its batch on the real engine (${ep}) and gets its alone output`,
    ignore: ep === "native" && NO_NATIVE,
    async fn() {
      await withRealServer(
        async (base, app) => {
          for (const t of ["alpha", "beta"]) await app.serve.registry.get(t);
          const scheduler = app.serve.scheduler;
          assert(scheduler.joining, "the real engine on a CPU backend takes joins");
          // A long row, streamed: once its first token is here, it is decoding.
          // gpt2-text has 128 positions: prefix 3 + 4 prompt tokens + 110 new ones fit.
          const longBody = { prompt: "Hello world", max_tokens: 110, temperature: 0, stream: true };
          const res = await fetch(`${base}/v1/tasks/alpha/generate`, {
            method: "POST",
            body: JSON.stringify(longBody),
          });
          const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
          let longText = (await reader.read()).value ?? "";
          let longDone = false;
          const rest = (async () => {
            while (true) {
              const { value, done } = await reader.read();
              if (done) break;
              longText += value;
            }
            longDone = true;
          })();
          const joined = await complete(base, "beta", "The quick brown fox");
          assert(!longDone, "the joined request finished while the long one still decoded");
          assertEquals(scheduler.stats().joinedRows, 1);
          assertEquals(app.serve.metrics.joins.get(), 1);
          await rest;
          const frames = parseSse(longText);
          assertEquals(frames.at(-1)!.event, "done");
          // Alone (the server is idle now), each gives what it gave in the shared batch.
          const alone = await complete(base, "beta", "The quick brown fox");
          assertEquals(joined.choices[0].text, alone.choices[0].text);
          assertEquals(joined.usage, alone.usage);
          const longAlone = await complete(base, "alpha", "Hello world", { max_tokens: 110 });
          assertEquals(JSON.parse(frames.at(-1)!.data).text, longAlone.choices[0].text);
          assertEquals(scheduler.stats().joinedRows, 1, "nothing joined when alone");
          // Drafts off: this model's greedy text loops, so the long row, alone until the second
          // request joins, would take a few tokens a pass and could end before that request came.
        },
        ep,
        0,
      );
    },
  });
}

Deno.test("/metrics counts the drafts a lone row checked, and drafts change no text", async () => {
  // gpt2-text's greedy text loops, so a long lone row's drafts are accepted; a fresh engine
  // checks its first draft passes whatever their timings.
  const body = { max_tokens: 100 };
  const counts = async (draftTokens: number) => {
    let text = "", accepted = 0, rejected = 0;
    await withRealServer(
      async (base) => {
        text = (await complete(base, "alpha", "Hello world", body)).choices[0].text;
        const exposition = await (await fetch(`${base}/metrics`)).text();
        accepted = metricValue(exposition, "prefix_edge_draft_tokens_total", 'result="accepted"');
        rejected = metricValue(exposition, "prefix_edge_draft_tokens_total", 'result="rejected"');
      },
      "wasm",
      draftTokens,
    );
    return { text, accepted, rejected };
  };
  const on = await counts(4), off = await counts(0);
  assert(on.accepted > 0, `no draft token accepted: ${JSON.stringify(on)}`);
  assertEquals([off.accepted, off.rejected], [0, 0]);
  assertEquals(on.text, off.text);
});

Deno.test("Streaming on the real engine yields the same text as the JSON answer", async () => {
  await withRealServer(async (base) => {
    const json = await complete(base, "beta", "Streaming test");
    const res = await fetch(`${base}/v1/tasks/beta/generate`, {
      method: "POST",
      body: JSON.stringify({ prompt: "Streaming test", max_tokens: 8, stream: true }),
    });
    const frames = parseSse(await res.text());
    const tokens = frames.filter((f) => f.event === "token").map((f) => JSON.parse(f.data).text);
    const done = JSON.parse(frames.at(-1)!.data);
    assertEquals(frames.at(-1)!.event, "done");
    assertEquals(tokens.join(""), json.choices[0].text);
    assertEquals(done.text, json.choices[0].text);
  });
});

Deno.test("A real bundle uploads and serves at once; a bundle for another base is refused with 422", async () => {
  await withRealServer(async (base) => {
    const model = await loadModel(GPT2_TOK);
    const auth = { authorization: `Bearer ${TOKEN}` };
    const up = await fetch(`${base}/v1/tasks/delta`, {
      method: "PUT",
      headers: auth,
      body: await realBundle(model, "delta", 4, 9),
    });
    const upBody = await up.json();
    assertEquals(up.status, 201, JSON.stringify(upBody));
    assertEquals(upBody.manifest.prefixLen, 4);
    assertEquals(upBody.manifest.method.reparam, "none");
    const out = await complete(base, "delta", "Hello world");
    assertEquals(out.choices[0].finish_reason, "length");
    const listed = await (await fetch(`${base}/v1/tasks`)).json();
    assertEquals(listed.data.map((t: { task: string }) => t.task), [
      "alpha",
      "beta",
      "delta",
      "gamma",
    ]);

    const llama = await loadModel(`${LLAMA_TINY}/model`);
    const foreign = await PrefixBundle.create({
      prefix: randomPrefix(llama, 2, 5),
      model: llama,
      task: "foreign",
      method: { reparam: "none", gate: false, midDim: null },
    });
    const res = await fetch(`${base}/v1/tasks/foreign`, {
      method: "PUT",
      headers: auth,
      body: await foreign.toBytes({ dtype: "F32" }),
    });
    const body = await res.json();
    assertEquals(res.status, 422, JSON.stringify(body));
    assertEquals(body.error.code, "BASE_MISMATCH");
    const still = await fetch(`${base}/v1/tasks`);
    assert(!(await still.text()).includes("foreign"), "nothing was written");
  });
});

// On the native backend: its forward passes run off the JS thread, so the
// abort reaches the row mid-generation. (On WASM the engine yields to the event
// loop once per step, which the joining test above relies on.)
Deno.test("A client leaving a stream stops its row on the real engine (native backend)", async () => {
  await withRealServer(
    async (base, app) => {
      const client = new AbortController();
      const res = await fetch(`${base}/v1/tasks/alpha/generate`, {
        method: "POST",
        body: JSON.stringify({ prompt: "Hello", max_tokens: 115, stream: true }),
        signal: client.signal,
      });
      const reader = res.body!.getReader();
      await reader.read(); // the first token arrived
      client.abort();
      await reader.cancel().catch(() => {});
      const deadline = Date.now() + 10_000;
      while (app.serve.scheduler.stats().activeRows > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assertEquals(app.serve.scheduler.stats().activeRows, 0, "the row ended");
      assertEquals(app.serve.metrics.cancelled.get({ reason: "client" }), 1);
      const generated = app.serve.metrics.tokens.get({ kind: "completion" });
      assert(generated < 115, `the row stopped early (${generated} of 115 tokens)`);
      // Drafts off: this model's greedy text loops, and with a few tokens a pass the row could end
      // before the abort reached it.
    },
    "native",
    0,
  );
});

Deno.test("a bundle written before bundles recorded their task's usage still serves, prompts as given", async () => {
  // The previous release's main-job bundle (tests/fixtures/README.md): no prompt, no generation.
  const model = await loadModel(STORIES);
  const engine = await InferenceEngine.create(model, { executionProvider: "wasm" });
  const dir = await Deno.makeTempDir();
  await Deno.copyFile(
    `${FIXTURES}bundles/pet-stories-0.1.0.prefix.zip`,
    `${dir}/pet-stories.prefix.zip`,
  );
  const app = createApp({
    engine,
    store: new FolderBundleStore(dir),
    decode: bundleDecoder(model),
    scheduler: { maxBatch: 4, batchWindowMs: 1 },
    log: () => {},
  });
  try {
    await withServer(app.fetch, async (base) => {
      const prompt = "name: Max | animal: dog | place: park | thing: ball ||";
      const served = await complete(base, "pet-stories", prompt, { max_tokens: 12 });
      const { prefix } = await loadTaskPrefix(`${dir}/pet-stories.prefix.zip`, { model });
      const alone = await engine.generate({ prompt, prefix, maxNewTokens: 12 }).result;
      assertEquals(served.choices[0].text, alone.text);
      assertEquals(served.usage.completion_tokens, 12, "the route's own length applies");
    });
  } finally {
    app.serve.scheduler.close();
    await engine.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});
