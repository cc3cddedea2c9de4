/**
 * S3BundleStore against a real S3 REST server (s3rver, in-process, behind a front that checks
 * SigV4 as S3 does; tests/serve/_s3_server.ts): get, list, put and delete, the signed header and
 * query forms, typed errors for a wrong key, a missing bucket and an unreachable endpoint, and
 * through a registry: a replaced object picked up after revalidation, a truncated or tampered
 * object refused.
 */
import { PrefixEdgeError } from "../../src/errors/mod.ts";
import { loadModel } from "../../src/model/mod.ts";
import {
  bundleDecoder,
  openBundleStore,
  parseS3Url,
  S3BundleStore,
  type S3BundleStoreOptions,
  S3StoreError,
  s3StoreFromEnv,
  TaskRegistry,
} from "../../src/serve/mod.ts";
import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { GPT2_TOK } from "../_fixtures.ts";
import { realBundle } from "./_real_bundle.ts";
import { S3_KEY, withS3Server } from "./_s3_server.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null) => (b ? new TextDecoder().decode(b) : null);

function store(endpoint: string, extra: Partial<S3BundleStoreOptions> = {}): S3BundleStore {
  return new S3BundleStore({
    bucket: "bundles",
    prefix: "prod",
    ...S3_KEY,
    endpoint,
    timeoutMs: 5_000,
    ...extra,
  });
}

/** An error check: a typed S3StoreError of this kind and code, whose message says `words`. */
function s3Failure(kind: string, code: string, words: string) {
  return (e: unknown) => {
    assert(e instanceof S3StoreError, String(e));
    assert(e instanceof PrefixEdgeError);
    assertEquals([e.kind, e.code], [kind, code], e.message);
    assert(e.message.includes(words), e.message);
    assert(!e.message.includes("\n"), `one line: ${e.message}`);
  };
}

// s3rver and Deno.serve keep sockets and timers in Node's compatibility layer between steps.
const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "S3BundleStore puts, gets, lists (every page) and deletes, every request SigV4-signed",
  ...opts,
  fn: () =>
    withS3Server(async (s3) => {
      const st = store(s3.endpoint, { listPageKeys: 2 });
      assertEquals(st.location, "s3://bundles/prod/");
      assertEquals(await st.read("nope"), null);
      assertEquals(await st.list(), []);
      const v1 = await st.write("alpha", bytes("one"));
      assert(typeof v1 === "string" && v1.length > 2, `an ETag: ${v1}`);
      for (const t of ["beta", "gamma", "delta", "epsilon"]) await st.write(t, bytes(t));
      // Keys outside the prefix, deeper down, or not bundles are not tasks.
      const other = store(s3.endpoint, { prefix: "" });
      await other.write("top", bytes("x"));
      await store(s3.endpoint, { prefix: "prod/old" }).write("deep", bytes("x"));
      assertEquals(await st.list(), ["alpha", "beta", "delta", "epsilon", "gamma"]);
      assertEquals(await other.list(), ["top"]);
      const pages = s3.seen.filter((r) => r.method === "GET" && r.query.includes("list-type=2"));
      assert(pages.some((r) => r.query.includes("continuation-token")), "the listing was paged");
      assertEquals(text(await st.read("alpha")), "one");
      const v2 = await st.write("alpha", bytes("three"));
      assert(v2 !== v1, "a new version has a new ETag");
      assertEquals(text(await st.read("alpha")), "three");
      assertEquals(await st.readVersion("alpha", v2!), { status: "unchanged" });
      const got = await st.readVersion("alpha", v1!);
      assertEquals(got.status === "found" ? [text(got.bytes), got.version] : got, ["three", v2]);
      assertEquals(await st.remove("alpha"), true);
      assertEquals(await st.remove("alpha"), false);
      assertEquals(await st.read("alpha"), null);
      assertEquals(await st.readVersion("alpha", v2!), { status: "missing" });
      assertEquals(await st.list(), ["beta", "delta", "epsilon", "gamma"]);
      // Every request carried a SigV4 Authorization header the front accepted.
      assert(s3.seen.length > 10);
      for (const r of s3.seen) {
        assertEquals(r.auth, "header", `${r.method} ${r.path}`);
        assert(r.status < 400 || r.status === 404, `${r.method} ${r.path}${r.query}: ${r.status}`);
      }
      await assertRejects(
        () => st.read("../x"),
        (e) => assert(e instanceof PrefixEdgeError && e.code === "INVALID_INPUT"),
      );
    }),
});

Deno.test({
  name: "S3BundleStore signs a session token, and presigns a GET URL (query form)",
  ...opts,
  fn: () =>
    withS3Server(async (s3) => {
      const st = store(s3.endpoint, { sessionToken: "session-token-1" });
      await st.write("alpha", bytes("one"));
      assertEquals(text(await st.read("alpha")), "one");
      await assertRejects(
        () => store(s3.endpoint).read("alpha"),
        s3Failure("credentials", "TASK_LOAD_FAILED", "InvalidToken"),
      );
      const url = await st.presign("alpha", 60);
      assert(url.includes("X-Amz-Signature=") && url.includes("X-Amz-Security-Token="), url);
      const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
      assertEquals([res.status, await res.text()], [200, "one"]);
      assertEquals(s3.seen.at(-1)?.auth, "query");
      // A changed signature, or the URL of another object, is refused.
      const u = new URL(url);
      u.searchParams.set("X-Amz-Signature", "0".repeat(64));
      const forged = await fetch(u, { signal: AbortSignal.timeout(5_000) });
      assertEquals(forged.status, 403);
      assert((await forged.text()).includes("SignatureDoesNotMatch"));
      const other = await fetch(url.replace("alpha.prefix.zip", "beta.prefix.zip"), {
        signal: AbortSignal.timeout(5_000),
      });
      assertEquals(other.status, 403);
      await other.body?.cancel();
    }, { sessionToken: "session-token-1" }),
});

Deno.test({
  name:
    "S3BundleStore: a wrong key, a missing bucket and an unreachable endpoint are typed, one-line errors",
  ...opts,
  fn: async () => {
    await withS3Server(async (s3) => {
      await store(s3.endpoint).write("alpha", bytes("one"));
      const wrongSecret = store(s3.endpoint, { secretAccessKey: "not-the-secret" });
      await assertRejects(
        () => wrongSecret.read("alpha"),
        s3Failure("credentials", "TASK_LOAD_FAILED", "SignatureDoesNotMatch"),
      );
      await assertRejects(
        () => wrongSecret.write("alpha", bytes("x")),
        s3Failure("credentials", "INTERNAL_ERROR", "AWS_SECRET_ACCESS_KEY"),
      );
      const wrongId = store(s3.endpoint, { accessKeyId: "NOBODY" });
      await assertRejects(
        () => wrongId.list(),
        s3Failure("credentials", "TASK_LOAD_FAILED", "InvalidAccessKeyId"),
      );
      const noBucket = store(s3.endpoint, { bucket: "no-such-bucket" });
      for (const op of [() => noBucket.read("alpha"), () => noBucket.list()]) {
        await assertRejects(
          op,
          s3Failure("no_bucket", "TASK_LOAD_FAILED", "bucket 'no-such-bucket' does not exist"),
        );
      }
      for (const op of [() => noBucket.write("alpha", bytes("x")), () => noBucket.remove("a")]) {
        await assertRejects(op, s3Failure("no_bucket", "INTERNAL_ERROR", "does not exist"));
      }
      // Bounded reads: over the limit is refused before the body is taken.
      await assertRejects(
        () => store(s3.endpoint, { maxBytes: 2 }).read("alpha"),
        (e) => assert(e instanceof PrefixEdgeError && e.code === "BUNDLE_TOO_LARGE", String(e)),
      );
    });
    // A port nothing listens on.
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    const down = store(`http://127.0.0.1:${port}`, { retries: 0 });
    await assertRejects(
      () => down.read("alpha"),
      s3Failure(
        "unreachable",
        "TASK_LOAD_FAILED",
        `endpoint http://127.0.0.1:${port} is unreachable`,
      ),
    );
  },
});

Deno.test("s3://BUCKET/PREFIX and the AWS_* variables configure the store; addressing follows the endpoint", () => {
  assertEquals(parseS3Url("s3://b-1/a/b/"), { bucket: "b-1", prefix: "a/b/" });
  assertEquals(parseS3Url("s3://bucket"), { bucket: "bucket", prefix: "" });
  for (const bad of ["s3://", "s3://A_B/x", "http://b/x"]) {
    try {
      parseS3Url(bad);
      throw new Error(`accepted ${bad}`);
    } catch (e) {
      assert(e instanceof PrefixEdgeError && e.code === "INVALID_INPUT", String(e));
    }
  }
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  const keys = { AWS_ACCESS_KEY_ID: "id", AWS_SECRET_ACCESS_KEY: "secret" };
  // AWS itself: virtual-hosted addressing in the region.
  const aws = s3StoreFromEnv("s3://models/p", env({ ...keys, AWS_REGION: "eu-west-1" }));
  assertEquals(aws.bucketUrl, "https://models.s3.eu-west-1.amazonaws.com/");
  // A custom endpoint (MinIO, R2): path-style unless told otherwise.
  const minio = s3StoreFromEnv(
    "s3://models/p",
    env({ ...keys, AWS_ENDPOINT_URL: "http://h:9000/" }),
  );
  assertEquals([minio.bucketUrl, minio.key("t")], ["http://h:9000/models/", "p/t.prefix.zip"]);
  const vhost = s3StoreFromEnv(
    "s3://models",
    env({ ...keys, AWS_ENDPOINT_URL: "https://acct.r2.example", AWS_S3_FORCE_PATH_STYLE: "false" }),
  );
  assertEquals([vhost.bucketUrl, vhost.key("t")], [
    "https://models.acct.r2.example/",
    "t.prefix.zip",
  ]);
  const forced = s3StoreFromEnv("s3://models", env({ ...keys, AWS_S3_FORCE_PATH_STYLE: "true" }));
  assertEquals(forced.bucketUrl, "https://s3.us-east-1.amazonaws.com/models/");
  for (const vars of [{}, { ...keys, AWS_S3_FORCE_PATH_STYLE: "yes" }]) {
    try {
      s3StoreFromEnv("s3://models", env(vars));
      throw new Error("accepted");
    } catch (e) {
      assert(e instanceof PrefixEdgeError && e.code === "INVALID_INPUT", String(e));
    }
  }
});

Deno.test({
  name: "openBundleStore opens s3:// from the environment",
  permissions: { env: true },
  fn: () => {
    const saved = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"].map(
      (k) => [k, Deno.env.get(k)] as const,
    );
    try {
      Deno.env.set("AWS_ACCESS_KEY_ID", "id");
      Deno.env.set("AWS_SECRET_ACCESS_KEY", "secret");
      Deno.env.set("AWS_ENDPOINT_URL", "http://127.0.0.1:9");
      const st = openBundleStore("s3://bundles/x");
      assert(st instanceof S3BundleStore);
      assertEquals([st.location, st.writable], ["s3://bundles/x/", true]);
    } finally {
      for (const [k, v] of saved) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
    }
  },
});

Deno.test({
  name:
    "A registry on S3 picks up a replaced object after revalidation, and refuses truncated or tampered ones",
  ...opts,
  fn: async () => {
    const model = await loadModel(GPT2_TOK);
    const [v1, v2, other] = await Promise.all([
      realBundle(model, "alpha", 3, 1),
      realBundle(model, "alpha", 5, 2),
      realBundle(model, "beta", 4, 3),
    ]);
    await withS3Server(async (s3) => {
      const st = store(s3.endpoint);
      const logs: string[] = [];
      const registry = new TaskRegistry({
        store: st,
        decode: bundleDecoder(model),
        config: model.config,
        revalidateMs: 300,
        log: (l) => logs.push(l),
      });
      const reads = () =>
        s3.seen.filter((r) => r.method === "GET" && r.path.endsWith("alpha.prefix.zip"));
      await st.write("alpha", v1);
      await st.write("beta", other);
      assertEquals((await registry.get("alpha")).prefix.prefixLen, 3);
      assertEquals((await registry.get("beta")).prefix.prefixLen, 4);
      // Within the bound the cache answers without asking the store.
      const before = reads().length;
      for (let i = 0; i < 5; i++) await registry.get("alpha");
      assertEquals(reads().length, before);
      // Another writer replaces the object: seen after at most revalidateMs.
      await st.write("alpha", v2);
      assertEquals((await registry.get("alpha")).prefix.prefixLen, 3, "not before the bound");
      await new Promise((r) => setTimeout(r, 350));
      assertEquals((await registry.get("alpha")).prefix.prefixLen, 5);
      assert(logs.some((l) => l.includes("changed")), logs.join("\n"));
      // An unchanged object is a 304: no body, no decode.
      await new Promise((r) => setTimeout(r, 350));
      await registry.get("alpha");
      assertEquals(reads().at(-1)?.status, 304);

      // A truncated and a tampered object (written past the registry) are refused, not
      // half-served, and the last good copy stops serving too.
      const truncated = v1.slice(0, v1.length - 40);
      const tampered = v1.slice();
      tampered[Math.floor(tampered.length / 2)] ^= 0xff;
      for (const [what, bad] of [["truncated", truncated], ["tampered", tampered]] as const) {
        await st.write("alpha", bad);
        await new Promise((r) => setTimeout(r, 350));
        await assertRejects(() => registry.get("alpha"), (e) => {
          assert(e instanceof PrefixEdgeError && e.code === "TASK_LOAD_FAILED", `${what}: ${e}`);
          assert(/BUNDLE_(CORRUPT|CHECKSUM)/.test(e.message), `${what}: ${e.message}`);
        });
        assert(!registry.cached().some((e) => e.task === "alpha"), `${what}: dropped`);
        assert(logs.some((l) => l.startsWith("refused task 'alpha'")), logs.join("\n"));
        // The same broken version is not read again within the bound.
        const n = reads().length;
        await assertRejects(() => registry.get("alpha"));
        assertEquals(reads().length, n, `${what}: not re-read`);
        // Listed with its error.
        const listed = (await registry.list()).find((t) => t.task === "alpha");
        assert(listed?.error && !listed.manifest, JSON.stringify(listed));
      }
      // A good bundle written again serves again; the other task never noticed.
      await st.write("alpha", v2);
      await new Promise((r) => setTimeout(r, 350));
      assertEquals((await registry.get("alpha")).prefix.prefixLen, 5);
      assertEquals((await registry.get("beta")).prefix.prefixLen, 4);
      // Deleted by another writer: refused after the bound, and gone from the listing at once.
      await st.remove("alpha");
      assertEquals((await registry.list()).map((t) => t.task), ["beta"]);
      await new Promise((r) => setTimeout(r, 350));
      await assertRejects(
        () => registry.get("alpha"),
        (e) => assert(e instanceof PrefixEdgeError && e.code === "UNKNOWN_TASK", String(e)),
      );
      // An upload through the registry writes through to the bucket.
      const { replaced } = await registry.put("gamma", other);
      assertEquals(replaced, false);
      assertEquals(await st.read("gamma"), other);
    });
  },
});
