/**
 * What both scheduling policies (waves and joining) must do, run against each: the bounded
 * queue, queue and request timeouts, a client that goes away while running or queued, a row the
 * engine refuses, bad settings and shutdown.
 */
import { PrefixEdgeError } from "../../src/errors/mod.ts";
import { createScheduler, ServerMetrics } from "../../src/serve/mod.ts";
import type { RowOptions } from "../../src/serve/mod.ts";
import { assert, assertEquals, assertRejects, assertThrows } from "../_assert.ts";
import { type FakeEngine, fakePrefix, fakeText } from "./_fakes.ts";

const opts = (prompt: string, n = 3) => ({ prompt, maxNewTokens: n, temperature: 0 });

/**
 * Register the suite for one policy.
 *
 * @param policy its name in test names
 * @param make a fresh engine that gets that policy, and the rows the engine was handed
 */
export function schedulerSuite(
  policy: string,
  make: () => { engine: FakeEngine; rows: () => RowOptions[] },
): void {
  const test = (name: string, fn: () => Promise<void>) =>
    Deno.test(`Scheduler (${policy}) ${name}`, async () => {
      const probe = make();
      const joining = createScheduler(probe.engine).joining;
      assertEquals(joining, policy === "joining", "the engine gets the policy under test");
      await fn();
    });

  test("answers QUEUE_FULL when the bounded queue is full", async () => {
    const { engine } = make();
    engine.stepMs = 5;
    const metrics = new ServerMetrics();
    const s = createScheduler(engine, { maxBatch: 1, maxQueue: 1, batchWindowMs: 0, metrics });
    const a = s.submit({ task: "a", prefix: null, options: opts("a") }); // starts at once
    const b = s.submit({ task: "a", prefix: null, options: opts("a") }); // waits
    assertThrows(
      () => s.submit({ task: "a", prefix: null, options: opts("a") }),
      (e) => assert(e instanceof PrefixEdgeError && e.code === "QUEUE_FULL"),
    );
    assertEquals(metrics.rejected.get({ reason: "queue_full" }), 1);
    await Promise.all([a.result, b.result]);
  });

  test("times out a queued request and a running one", async () => {
    const { engine, rows } = make();
    engine.stepMs = 10;
    const s = createScheduler(engine, {
      maxBatch: 1,
      batchWindowMs: 0,
      queueTimeoutMs: 15,
      requestTimeoutMs: 40,
    });
    const running = s.submit({ task: "a", prefix: null, options: opts("a", 100) });
    const queued = s.submit({ task: "a", prefix: null, options: opts("a", 1) });
    await assertRejects(
      () => queued.result,
      (e) => assert(e instanceof PrefixEdgeError && e.code === "TIMEOUT", String(e)),
    );
    await assertRejects(
      () => running.result,
      (e) => assert(e instanceof PrefixEdgeError && e.code === "TIMEOUT", String(e)),
    );
    assert(rows()[0].signal!.aborted, "the engine row was aborted");
  });

  test("cancels a row whose client went away, leaving its batch-mates alone", async () => {
    const { engine } = make();
    engine.stepMs = 5;
    const s = createScheduler(engine, { maxBatch: 4, batchWindowMs: 10 });
    const client = new AbortController();
    const gone = s.submit({
      task: "a",
      prefix: fakePrefix(1),
      options: opts("a", 50),
      signal: client.signal,
    });
    const stays = s.submit({ task: "b", prefix: fakePrefix(2), options: opts("a", 6) });
    setTimeout(() => client.abort(), 30);
    const [g, k] = await Promise.all([gone.result, stays.result]);
    assertEquals(g.finishReason, "cancelled");
    assert(g.tokenIds.length < 50);
    assertEquals(k.text, fakeText(fakePrefix(2), "a", 6));
  });

  test("drops a queued request whose client went away", async () => {
    const { engine, rows } = make();
    engine.stepMs = 5;
    const s = createScheduler(engine, { maxBatch: 1, batchWindowMs: 0 });
    const first = s.submit({ task: "a", prefix: null, options: opts("a", 3) });
    const client = new AbortController();
    const queued = s.submit({ task: "a", prefix: null, options: opts("a"), signal: client.signal });
    client.abort();
    await assertRejects(
      () => queued.result,
      (e) => assert(e instanceof PrefixEdgeError && e.code === "CANCELLED"),
    );
    await first.result;
    assertEquals(rows().length, 1, "the dropped request never reached the engine");
  });

  test("isolates a row the engine refuses: the others still run", async () => {
    const { engine } = make();
    engine.rejectRow = (row) => row.prompt === "bad";
    const s = createScheduler(engine, { maxBatch: 4, batchWindowMs: 10 });
    const good = s.submit({ task: "a", prefix: fakePrefix(1), options: opts("fine") });
    const bad = s.submit({ task: "b", prefix: fakePrefix(2), options: opts("bad") });
    const good2 = s.submit({ task: "c", prefix: fakePrefix(3), options: opts("fine") });
    await assertRejects(
      () => bad.result,
      (e) => assert(e instanceof PrefixEdgeError && e.code === "INVALID_INPUT"),
    );
    assertEquals((await good.result).text, fakeText(fakePrefix(1), "fine", 3));
    assertEquals((await good2.result).text, fakeText(fakePrefix(3), "fine", 3));
  });

  test("refuses bad settings and closes cleanly", async () => {
    const { engine } = make();
    assertThrows(() => createScheduler(engine, { maxBatch: 0 }), (e) => {
      assert(e instanceof PrefixEdgeError && e.code === "INVALID_INPUT");
    });
    engine.stepMs = 5;
    const s = createScheduler(engine, { maxBatch: 1, batchWindowMs: 0 });
    const a = s.submit({ task: "a", prefix: null, options: opts("a", 2) });
    const b = s.submit({ task: "a", prefix: null, options: opts("a", 2) });
    s.close();
    await assertRejects(
      () => b.result,
      (e) => assert(e instanceof PrefixEdgeError && e.code === "CANCELLED"),
    );
    await a.result;
    assertThrows(() => s.submit({ task: "a", prefix: null, options: opts("a") }), (e) => {
      assert(e instanceof PrefixEdgeError && e.code === "BACKEND_UNAVAILABLE");
    });
  });
}
