/**
 * The playground routes: `/` sends a browser to `/ui/`, the page and its assets come from the
 * browser build's folder with the cross-origin isolation headers WASM threads need, and an
 * unbuilt page is a clear 404 that says how to build it.
 */
import { createApp, type CreateAppOptions, MemoryBundleStore } from "../../src/serve/mod.ts";
import { assert, assertEquals } from "../_assert.ts";
import { fakeDecode, FakeEngine } from "./_fakes.ts";

function app(ui: string, over: Partial<CreateAppOptions> = {}) {
  return createApp({
    engine: new FakeEngine(),
    store: new MemoryBundleStore({}),
    decode: fakeDecode,
    log: () => {},
    ui,
    ...over,
  });
}

Deno.test("the playground is served at / from the browser build, cross-origin isolated", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/index.html`, "<!doctype html><title>playground</title>");
  await Deno.writeTextFile(`${dir}/playground.js`, "export {};");
  const a = app(dir);
  try {
    const root = await a.request("/");
    assertEquals([root.status, root.headers.get("location")], [302, "/ui/"]);
    const page = await a.request("/ui/");
    assertEquals(page.status, 200);
    assert((await page.text()).includes("<title>playground</title>"));
    assertEquals(page.headers.get("cross-origin-opener-policy"), "same-origin");
    assertEquals(page.headers.get("cross-origin-embedder-policy"), "require-corp");
    const script = await a.request("/ui/playground.js");
    assertEquals(script.status, 200);
    assert(script.headers.get("content-type")?.includes("javascript"));
    await script.body?.cancel();
    const missing = await a.request("/ui/nothing.js");
    assertEquals(missing.status, 404);
    await missing.body?.cancel();
    // The API is unchanged beside it.
    assertEquals((await (await a.request("/healthz")).json()).status, "ok");
  } finally {
    a.serve.scheduler.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an unbuilt playground answers / with a 404 that names deno task build:web", async () => {
  const dir = await Deno.makeTempDir();
  const a = app(dir);
  try {
    const res = await a.request("/");
    const body = await res.json();
    assertEquals([res.status, body.error.code], [404, "ROUTE_NOT_FOUND"]);
    assert(body.error.message.includes("deno task build:web"), body.error.message);
  } finally {
    a.serve.scheduler.close();
    await Deno.remove(dir);
  }
});

Deno.test("without ui, / is not a route", async () => {
  const a = createApp({
    engine: new FakeEngine(),
    store: new MemoryBundleStore({}),
    decode: fakeDecode,
    log: () => {},
  });
  try {
    const res = await a.request("/");
    assertEquals(res.status, 404);
    assertEquals((await res.json()).error.code, "ROUTE_NOT_FOUND");
  } finally {
    a.serve.scheduler.close();
  }
});
