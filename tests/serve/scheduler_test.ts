import { PrefixEdgeError } from "../../src/errors/mod.ts";
import { createScheduler, ServerMetrics } from "../../src/serve/mod.ts";
import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { FakeEngine, FakeJoinEngine, fakePrefix, fakeText } from "./_fakes.ts";
import { schedulerSuite } from "./scheduler.case.ts";

// What both policies must do (queue bounds, timeouts, cancellation, refused rows, shutdown).
schedulerSuite("waves", () => {
  const engine = new FakeEngine();
  return { engine, rows: () => engine.calls.flatMap((c) => c.rows) };
});
schedulerSuite("joining", () => {
  const engine = new FakeJoinEngine();
  return { engine, rows: () => engine.added };
});

const opts = (prompt: string, n = 3) => ({ prompt, maxNewTokens: n, temperature: 0 });

Deno.test("Scheduler batches requests from different tasks into one engine call", async () => {
  const engine = new FakeEngine();
  const metrics = new ServerMetrics();
  const s = createScheduler(engine, { maxBatch: 8, batchWindowMs: 20, metrics });
  const tasks = [["a", fakePrefix(1)], ["b", fakePrefix(2)], ["base", null]] as const;
  const rows = tasks.map(([task, prefix]) => s.submit({ task, prefix, options: opts("x y") }));
  const results = await Promise.all(rows.map((r) => r.result));
  assertEquals(engine.calls.length, 1);
  assertEquals(engine.calls[0].rows.map((r) => r.prefix?.kv[0] ?? null), [1, 2, null]);
  tasks.forEach(([, prefix], i) => assertEquals(results[i].text, fakeText(prefix, "x y", 3)));
  assertEquals(metrics.tasksPerBatch.get(), { count: 1, sum: 3 });
  assertEquals(metrics.batchSize.get(), { count: 1, sum: 3 });
});

Deno.test("Scheduler with maxBatch=1 runs one request per engine call", async () => {
  const engine = new FakeEngine();
  const s = createScheduler(engine, { maxBatch: 1, batchWindowMs: 0 });
  const rows = [1, 2, 3].map((v) =>
    s.submit({ task: `t${v}`, prefix: fakePrefix(v), options: opts("a") })
  );
  await Promise.all(rows.map((r) => r.result));
  assertEquals(engine.calls.map((c) => c.rows.length), [1, 1, 1]);
});

Deno.test("Scheduler streams each row's tokens as they come", async () => {
  const engine = new FakeEngine();
  const s = createScheduler(engine, { batchWindowMs: 0 });
  const row = s.submit({ task: "a", prefix: fakePrefix(4), options: opts("p q r", 4) });
  let text = "";
  for await (const t of row.tokens) text += t.text;
  assertEquals(text, fakeText(fakePrefix(4), "p q r", 4));
  assertEquals((await row.result).finishReason, "length");
});

Deno.test("Scheduler queues requests that arrive during a wave and runs them as the next wave", async () => {
  const engine = new FakeEngine();
  engine.stepMs = 5;
  const s = createScheduler(engine, { maxBatch: 4, batchWindowMs: 0 });
  const first = s.submit({ task: "a", prefix: fakePrefix(1), options: opts("a", 4) });
  await new Promise((r) => setTimeout(r, 2));
  const later = [2, 3].map((v) =>
    s.submit({ task: `t${v}`, prefix: fakePrefix(v), options: opts("a", 2) })
  );
  assertEquals(s.stats().queued, 2);
  await Promise.all([first.result, ...later.map((r) => r.result)]);
  assertEquals(engine.calls.map((c) => c.rows.length), [1, 2]);
});

Deno.test("Scheduler with maxConcurrentBatches=2 starts a second wave while the first decodes", async () => {
  const engine = new FakeEngine();
  engine.stepMs = 5;
  const s = createScheduler(engine, { maxBatch: 2, batchWindowMs: 0, maxConcurrentBatches: 2 });
  const long = s.submit({ task: "a", prefix: null, options: opts("a", 20) });
  let longDone = false;
  long.result.then(() => (longDone = true));
  await new Promise((r) => setTimeout(r, 15));
  const short = s.submit({ task: "b", prefix: fakePrefix(2), options: opts("a", 2) });
  const shortDone = await short.result;
  assert(!longDone, "the long wave still runs when the short one is done");
  assertEquals(shortDone.text, fakeText(fakePrefix(2), "a", 2));
  await long.result;
  assertEquals(engine.calls.map((c) => c.rows.length), [1, 1]);
});

Deno.test("Scheduler in joining mode adds a request that arrives during decoding to the running batch", async () => {
  const engine = new FakeJoinEngine();
  engine.stepMs = 5;
  const metrics = new ServerMetrics();
  const s = createScheduler(engine, { maxBatch: 4, batchWindowMs: 0, metrics });
  assert(s.joining);
  const first = s.submit({ task: "a", prefix: fakePrefix(1), options: opts("a", 20) });
  let firstDone = false;
  first.result.then(() => (firstDone = true));
  await new Promise((r) => setTimeout(r, 15));
  const later = s.submit({ task: "b", prefix: fakePrefix(2), options: opts("a", 2) });
  assertEquals(s.stats().queued, 0, "it did not wait for the first row to end");
  assertEquals(engine.added.length, 2);
  const laterDone = await later.result;
  assert(!firstDone, "the first row still runs when the joined one is done");
  assertEquals(laterDone.text, fakeText(fakePrefix(2), "a", 2));
  await first.result;
  assertEquals(engine.calls.length, 0, "no waves");
  assertEquals(s.stats().joinedRows, 1);
  assertEquals(metrics.joins.get(), 1);
  assertEquals(metrics.batches.get(), 2, "one start, one join");
  assertEquals(metrics.batchSize.get(), { count: 2, sum: 1 + 2 });
  assertEquals(metrics.tasksPerBatch.get(), { count: 2, sum: 1 + 2 });
});

Deno.test("Scheduler in joining mode caps the batch at maxBatch rows (a beam row takes numBeams)", async () => {
  const engine = new FakeJoinEngine();
  engine.stepMs = 5;
  const s = createScheduler(engine, { maxBatch: 3, batchWindowMs: 0 });
  const a = s.submit({ task: "a", prefix: null, options: opts("a", 6) });
  const beam = s.submit({ task: "b", prefix: null, options: { ...opts("a", 2), numBeams: 2 } });
  const c = s.submit({ task: "c", prefix: null, options: opts("a", 2) });
  assertEquals(s.stats().activeRows, 3, "a and the 2-wide beam row fill the batch");
  assertEquals(s.stats().queued, 1, "c waits for a free slot");
  await Promise.all([a.result, beam.result, c.result]);
  assertEquals(engine.added.map((r) => r.numBeams ?? 1), [1, 2, 1]);
  assertEquals(s.stats().joinedRows, 1, "c joined a running batch; the beam row ran on its own");
});

Deno.test("Scheduler in joining mode fails only the row the engine refuses", async () => {
  const engine = new FakeJoinEngine();
  engine.rejectRow = (row) => row.prompt === "bad";
  const s = createScheduler(engine, { maxBatch: 4, batchWindowMs: 10 });
  const good = s.submit({ task: "a", prefix: fakePrefix(1), options: opts("fine") });
  const bad = s.submit({ task: "b", prefix: fakePrefix(2), options: opts("bad") });
  await assertRejects(
    () => bad.result,
    (e) => assert(e instanceof PrefixEdgeError && e.code === "INVALID_INPUT"),
  );
  assertEquals((await good.result).text, fakeText(fakePrefix(1), "fine", 3));
});

Deno.test("Scheduler falls back to waves when the engine's batch cannot take joins", async () => {
  const engine = new FakeJoinEngine();
  engine.joinable = false;
  engine.stepMs = 5;
  const s = createScheduler(engine, { maxBatch: 4, batchWindowMs: 0 });
  assert(!s.joining);
  const first = s.submit({ task: "a", prefix: fakePrefix(1), options: opts("a", 4) });
  await new Promise((r) => setTimeout(r, 2));
  const later = s.submit({ task: "b", prefix: fakePrefix(2), options: opts("a", 2) });
  assertEquals(s.stats().queued, 1);
  await Promise.all([first.result, later.result]);
  assertEquals(engine.calls.map((c) => c.rows.length), [1, 1]);
  assertEquals(engine.added.length, 0);
});

Deno.test("Scheduler with joinRunningBatch=false batches per wave even when the engine can join", async () => {
  const engine = new FakeJoinEngine();
  engine.stepMs = 5;
  const s = createScheduler(engine, { maxBatch: 4, batchWindowMs: 0, joinRunningBatch: false });
  assert(!s.joining);
  const first = s.submit({ task: "a", prefix: null, options: opts("a", 4) });
  await new Promise((r) => setTimeout(r, 2));
  const later = s.submit({ task: "b", prefix: null, options: opts("a", 2) });
  assertEquals(s.stats().queued, 1);
  await Promise.all([first.result, later.result]);
  assertEquals(engine.calls.length, 2);
  assertEquals(engine.added.length, 0);
});
