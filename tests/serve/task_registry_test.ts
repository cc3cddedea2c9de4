import { PrefixEdgeError } from "../../src/errors/mod.ts";
import { MemoryBundleStore, ServerMetrics, TaskRegistry } from "../../src/serve/mod.ts";
import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { FAKE_CONFIG, fakeBundle, fakeDecode } from "./_fakes.ts";

// A fake prefix of P=2 tokens takes 2 * 4 floats * 4 bytes = 32 bytes.
const ENTRY_BYTES = 32;

function setup(budgetBytes = 1 << 20) {
  const store = new MemoryBundleStore({
    alpha: fakeBundle("alpha", 1),
    beta: fakeBundle("beta", 2),
    gamma: fakeBundle("gamma", 3),
    broken: new TextEncoder().encode("not a bundle"),
    foreign: fakeBundle("foreign", 4, 2, { base: "other-base" }),
  });
  const metrics = new ServerMetrics();
  let decodes = 0;
  const registry = new TaskRegistry({
    store,
    decode: (b) => {
      decodes++;
      return fakeDecode(b);
    },
    budgetBytes,
    config: FAKE_CONFIG,
    metrics,
  });
  return { store, registry, metrics, decodes: () => decodes };
}

Deno.test("TaskRegistry loads a task on first use and serves it from the cache after", async () => {
  const { registry, decodes } = setup();
  const [a, b] = await Promise.all([registry.get("alpha"), registry.get("alpha")]);
  assert(a === b, "concurrent first uses share one load");
  assertEquals(a.prefix.kv[0], 1);
  assertEquals(a.bytes, ENTRY_BYTES);
  await registry.get("alpha");
  assertEquals(decodes(), 1);
});

Deno.test("TaskRegistry evicts the least recently used task under its budget", async () => {
  const { registry, metrics } = setup(2 * ENTRY_BYTES);
  await registry.get("alpha");
  await registry.get("beta");
  await registry.get("alpha"); // alpha is now the most recent
  await registry.get("gamma"); // evicts beta
  assertEquals(registry.cached().map((e) => e.task), ["alpha", "gamma"]);
  assertEquals(registry.cachedBytes, 2 * ENTRY_BYTES);
  assertEquals(metrics.taskEvictions.get(), 1);
  assertEquals(metrics.taskLoads.get({ result: "ok" }), 3);
});

Deno.test("TaskRegistry still serves a task larger than the whole budget", async () => {
  const { registry } = setup(ENTRY_BYTES / 2);
  await registry.get("alpha");
  const b = await registry.get("beta");
  assertEquals(b.prefix.kv[0], 2);
  assertEquals(registry.cached().map((e) => e.task), ["beta"]);
});

Deno.test("TaskRegistry gives unknown, corrupt and foreign bundles clear typed errors", async () => {
  const { registry, metrics } = setup();
  await assertRejects(
    () => registry.get("missing"),
    (e) => assert(e instanceof PrefixEdgeError && e.code === "UNKNOWN_TASK"),
  );
  await assertRejects(() => registry.get("broken"), (e) => {
    assert(e instanceof PrefixEdgeError && e.code === "TASK_LOAD_FAILED");
    assert(e.message.includes("BUNDLE_CORRUPT"), e.message);
  });
  await assertRejects(() => registry.get("foreign"), (e) => {
    assert(e instanceof PrefixEdgeError && e.message.includes("BASE_MISMATCH"), String(e));
  });
  await assertRejects(() => registry.get("base"), (e) => {
    assert(e instanceof PrefixEdgeError && e.code === "UNKNOWN_TASK");
  });
  assertEquals(metrics.taskLoads.get({ result: "error" }), 2);
  // The other tasks are untouched.
  assertEquals((await registry.get("alpha")).prefix.kv[0], 1);
});

Deno.test("TaskRegistry.put verifies before writing and replaces atomically", async () => {
  const { registry, store } = setup();
  const old = await registry.get("alpha");
  await assertRejects(
    () => registry.put("alpha", fakeBundle("alpha", 9, 2, { base: "other" })),
    (e) => assert(e instanceof PrefixEdgeError && e.code === "BASE_MISMATCH"),
  );
  assertEquals(
    new TextDecoder().decode((await store.read("alpha"))!),
    new TextDecoder().decode(fakeBundle("alpha", 1)),
  );
  const { entry, replaced } = await registry.put("alpha", fakeBundle("alpha", 9));
  assert(replaced);
  assertEquals(entry.prefix.kv[0], 9);
  assertEquals((await registry.get("alpha")).prefix.kv[0], 9);
  assertEquals(old.prefix.kv[0], 1, "a request holding the old entry keeps the old prefix");
  const fresh = await registry.put("delta", fakeBundle("delta", 5));
  assertEquals(fresh.replaced, false);
  await assertRejects(
    () => registry.put("base", fakeBundle("base", 5)),
    (e) => assert(e instanceof PrefixEdgeError && e.code === "INVALID_INPUT"),
  );
});

Deno.test("TaskRegistry.remove drops a task from the store and the cache", async () => {
  const { registry } = setup();
  await registry.get("alpha");
  assertEquals(await registry.remove("alpha"), true);
  assertEquals(await registry.remove("alpha"), false);
  await assertRejects(
    () => registry.get("alpha"),
    (e) => assert(e instanceof PrefixEdgeError && e.code === "UNKNOWN_TASK"),
  );
});

Deno.test("TaskRegistry.list shows every stored task with its manifest or its error", async () => {
  const { registry } = setup(ENTRY_BYTES);
  await registry.get("alpha");
  const list = await registry.list();
  assertEquals(list.map((t) => t.task), ["alpha", "beta", "broken", "foreign", "gamma"]);
  assertEquals(list[0].loaded, true);
  assertEquals(list[1].loaded, false);
  assertEquals(list[1].manifest?.task, "beta");
  assertEquals(list[2].error?.code, "BUNDLE_CORRUPT");
  assertEquals(registry.cached().map((e) => e.task), ["alpha"], "listing does not fill the cache");
});

Deno.test("TaskRegistry revalidates a cached task at most every revalidateMs: replaced, deleted, refused", async () => {
  const store = new MemoryBundleStore({
    alpha: fakeBundle("alpha", 1),
    beta: fakeBundle("beta", 2),
  });
  const logs: string[] = [];
  let decodes = 0;
  const metrics = new ServerMetrics();
  const registry = new TaskRegistry({
    store,
    decode: (b) => {
      decodes++;
      return fakeDecode(b);
    },
    config: FAKE_CONFIG,
    metrics,
    revalidateMs: 60,
    log: (l) => logs.push(l),
  });
  const wait = () => new Promise((r) => setTimeout(r, 70));
  assertEquals((await registry.get("alpha")).prefix.kv[0], 1);
  await registry.get("beta");
  // Another replica replaces alpha in the store: not seen before the bound, seen after it.
  await store.write("alpha", fakeBundle("alpha", 7));
  assertEquals((await registry.get("alpha")).prefix.kv[0], 1);
  await wait();
  assertEquals((await registry.get("alpha")).prefix.kv[0], 7);
  // Unchanged: revalidated without decoding again.
  const n = decodes;
  await wait();
  await registry.get("alpha");
  assertEquals(decodes, n);
  // The store was read for three versions (alpha twice, beta once) and answered one check with
  // "unchanged": a fleet's metrics show its store traffic per replica.
  assertEquals(metrics.storeReads.get({ result: "downloaded" }), 3);
  assertEquals(metrics.storeReads.get({ result: "not_modified" }), 1);
  // A broken bundle replaces it: refused (not the old copy), logged, and not decoded per request.
  await store.write("alpha", new TextEncoder().encode("garbage"));
  await wait();
  await assertRejects(() => registry.get("alpha"), (e) => {
    assert(e instanceof PrefixEdgeError && e.code === "TASK_LOAD_FAILED", String(e));
  });
  assert(logs.some((l) => l.startsWith("refused task 'alpha'")), logs.join("\n"));
  const m = decodes;
  await assertRejects(() => registry.get("alpha"));
  assertEquals(decodes, m);
  // Deleted in the store: gone from the listing at once, refused after the bound.
  await store.write("alpha", fakeBundle("alpha", 8));
  await wait();
  assertEquals((await registry.get("alpha")).prefix.kv[0], 8);
  await store.remove("alpha");
  assertEquals((await registry.list()).map((t) => t.task), ["beta"]);
  await wait();
  await assertRejects(
    () => registry.get("alpha"),
    (e) => assert(e instanceof PrefixEdgeError && e.code === "UNKNOWN_TASK", String(e)),
  );
  assertEquals((await registry.get("beta")).prefix.kv[0], 2);
  assertEquals(metrics.storeReads.get({ result: "missing" }), 1);
});

Deno.test("TaskRegistry with revalidateMs Infinity never asks the store again for a cached task", async () => {
  const store = new MemoryBundleStore({ alpha: fakeBundle("alpha", 1) });
  const registry = new TaskRegistry({ store, decode: fakeDecode, revalidateMs: Infinity });
  await registry.get("alpha");
  await store.write("alpha", fakeBundle("alpha", 5));
  await new Promise((r) => setTimeout(r, 5));
  assertEquals((await registry.get("alpha")).prefix.kv[0], 1);
});
