/**
 * One suite for the BundleStore interface, run against every implementation
 * (folder, memory, and HTTP over a loopback file server).
 */
import { PrefixEdgeError } from "../../src/errors/mod.ts";
import {
  type BundleStore,
  FolderBundleStore,
  HttpBundleStore,
  MemoryBundleStore,
  openBundleStore,
} from "../../src/serve/mod.ts";
import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { withServer } from "./_fakes.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null) => (b ? new TextDecoder().decode(b) : null);

async function writableSuite(t: Deno.TestContext, make: () => Promise<BundleStore>) {
  await t.step("reads null for a missing task", async () => {
    assertEquals(await (await make()).read("nope"), null);
  });
  await t.step("writes, lists, replaces and removes", async () => {
    const store = await make();
    await store.write("alpha", bytes("one"));
    await store.write("beta", bytes("two"));
    assertEquals(await store.list(), ["alpha", "beta"]);
    await store.write("alpha", bytes("three"));
    assertEquals(text(await store.read("alpha")), "three");
    assertEquals(await store.remove("alpha"), true);
    assertEquals(await store.remove("alpha"), false);
    assertEquals(await store.list(), ["beta"]);
  });
  await t.step("refuses unsafe task names before touching storage", async () => {
    const store = await make();
    for (const bad of ["../x", "a/b", ".x"]) {
      await assertRejects(
        () => store.read(bad),
        (e) => assert(e instanceof PrefixEdgeError && e.code === "INVALID_INPUT"),
      );
      await assertRejects(() => store.write(bad, bytes("x")));
    }
  });
}

Deno.test("FolderBundleStore keeps <task>.prefix.zip files", async (t) => {
  const dirs: string[] = [];
  await writableSuite(t, async () => {
    const dir = await Deno.makeTempDir();
    dirs.push(dir);
    return new FolderBundleStore(dir);
  });
  await t.step("writes through a temp file and leaves no temp behind", async () => {
    const dir = await Deno.makeTempDir();
    dirs.push(dir);
    const store = new FolderBundleStore(dir);
    await store.write("gamma", bytes("x"));
    const names = [...Deno.readDirSync(dir)].map((e) => e.name);
    assertEquals(names, ["gamma.prefix.zip"]);
  });
  await t.step("refuses a bundle over the size limit", async () => {
    const dir = await Deno.makeTempDir();
    dirs.push(dir);
    await Deno.writeFile(`${dir}/big.prefix.zip`, new Uint8Array(100));
    await assertRejects(
      () => new FolderBundleStore(dir, 10).read("big"),
      (e) => assert(e instanceof PrefixEdgeError && e.code === "BUNDLE_TOO_LARGE"),
    );
  });
  for (const d of dirs) await Deno.remove(d, { recursive: true });
});

Deno.test("MemoryBundleStore behaves like a folder", async (t) => {
  await writableSuite(t, () => Promise.resolve(new MemoryBundleStore()));
});

Deno.test("HttpBundleStore reads <base>/<task>.prefix.zip and is read-only", async () => {
  const seen: string[] = [];
  await withServer((req) => {
    const path = new URL(req.url).pathname;
    seen.push(path);
    if (path === "/p/alpha.prefix.zip") return new Response("one");
    if (path === "/p/big.prefix.zip") return new Response(new Uint8Array(100));
    if (path === "/p/broken.prefix.zip") return new Response("no", { status: 500 });
    return new Response("missing", { status: 404 });
  }, async (base) => {
    const store = new HttpBundleStore(`${base}/p`, { maxBytes: 50 });
    assertEquals(text(await store.read("alpha")), "one");
    assertEquals(await store.read("missing"), null);
    await assertRejects(
      () => store.read("big"),
      (e) => assert(e instanceof PrefixEdgeError && e.code === "BUNDLE_TOO_LARGE"),
    );
    await assertRejects(
      () => store.read("broken"),
      (e) => assert(e instanceof PrefixEdgeError && e.code === "TASK_LOAD_FAILED"),
    );
    await assertRejects(
      () => store.write("alpha", bytes("x")),
      (e) => assert(e instanceof PrefixEdgeError && e.code === "STORE_READ_ONLY"),
    );
    assertEquals(await store.list(), null);
    assert(!store.writable);
  });
  assertEquals(seen.slice(0, 2), ["/p/alpha.prefix.zip", "/p/missing.prefix.zip"]);
});

Deno.test("openBundleStore picks HTTP for URLs and a folder otherwise", () => {
  assert(openBundleStore("http://127.0.0.1:9/x") instanceof HttpBundleStore);
  assert(openBundleStore("./bundles") instanceof FolderBundleStore);
});

Deno.test("a folder store also serves training runs: <task>/<task>.prefix.zip", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/pet-stories`);
    await Deno.writeFile(`${dir}/pet-stories/pet-stories.prefix.zip`, new Uint8Array([1, 2, 3]));
    await Deno.mkdir(`${dir}/empty-run`);
    await Deno.writeFile(`${dir}/flat.prefix.zip`, new Uint8Array([4]));
    const store = new FolderBundleStore(dir);
    assertEquals(await store.list(), ["flat", "pet-stories"]);
    assertEquals(await store.read("pet-stories"), new Uint8Array([1, 2, 3]));
    assertEquals(await store.read("flat"), new Uint8Array([4]));
    assertEquals(await store.read("empty-run"), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a run folder whose bundle has another name is served as the folder's name, and what is left out is said", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // `deno task train --out runs/pet-int` writes runs/pet-int/pet-stories.prefix.zip.
    await Deno.mkdir(`${dir}/pet-int`);
    await Deno.writeFile(`${dir}/pet-int/pet-stories.prefix.zip`, new Uint8Array([7]));
    await Deno.mkdir(`${dir}/two`);
    await Deno.writeFile(`${dir}/two/a.prefix.zip`, new Uint8Array([1]));
    await Deno.writeFile(`${dir}/two/b.prefix.zip`, new Uint8Array([2]));
    await Deno.mkdir(`${dir}/Bad Name`);
    await Deno.writeFile(`${dir}/Bad Name/x.prefix.zip`, new Uint8Array([3]));
    await Deno.writeFile(`${dir}/UPPER.prefix.zip`, new Uint8Array([4]));
    await Deno.mkdir(`${dir}/no-bundle-yet`);
    const store = new FolderBundleStore(dir);
    assertEquals(await store.list(), ["pet-int"]);
    assertEquals(await store.read("pet-int"), new Uint8Array([7]));
    assertEquals(await store.read("two"), null);
    const { skipped } = await store.survey();
    assertEquals(skipped.length, 3, skipped.join("\n"));
    assert(skipped.some((l) => l.startsWith("two/: it holds 2 bundles")), skipped.join("\n"));
    assert(skipped.some((l) => l.startsWith("Bad Name/")), skipped.join("\n"));
    assert(skipped.some((l) => l.startsWith("UPPER.prefix.zip")), skipped.join("\n"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Every store tells versions: a write's tag is current until the next write or delete", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const store of [new MemoryBundleStore(), new FolderBundleStore(dir)]) {
      assertEquals(await store.readVersion("alpha", null), { status: "missing" });
      const v1 = await store.write("alpha", bytes("one"));
      assertEquals(await store.readVersion("alpha", v1), { status: "unchanged" }, store.location);
      const v2 = await store.write("alpha", bytes("one")); // same bytes, same size, same ms
      assert(v2 !== v1, `${store.location}: a new write is a new version (${v1}, ${v2})`);
      const got = await store.readVersion("alpha", v1);
      assertEquals(got.status === "found" ? [text(got.bytes), got.version] : got, ["one", v2]);
      await store.remove("alpha");
      assertEquals(await store.readVersion("alpha", v2), { status: "missing" });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("HttpBundleStore revalidates with the ETag: If-None-Match, 304 = unchanged", async () => {
  let etag = '"v1"';
  let body = "one";
  const conditional: (string | null)[] = [];
  await withServer((req) => {
    if (new URL(req.url).pathname !== "/p/alpha.prefix.zip") {
      return new Response("missing", { status: 404 });
    }
    conditional.push(req.headers.get("if-none-match"));
    if (req.headers.get("if-none-match") === etag) return new Response(null, { status: 304 });
    return new Response(body, { headers: { etag } });
  }, async (base) => {
    const store = new HttpBundleStore(`${base}/p`);
    const first = await store.readVersion("alpha", null);
    assertEquals(first.status === "found" ? first.version : first, '"v1"');
    assertEquals(await store.readVersion("alpha", '"v1"'), { status: "unchanged" });
    [etag, body] = ['"v2"', "two"];
    const next = await store.readVersion("alpha", '"v1"');
    assertEquals(next.status === "found" ? [text(next.bytes), next.version] : next, [
      "two",
      '"v2"',
    ]);
    assertEquals(await store.readVersion("gone", '"v1"'), { status: "missing" });
  });
  assertEquals(conditional, [null, '"v1"', '"v1"']);
});
