/**
 * Two `deno task serve` replicas on one S3 bucket (s3rver in this process, tests/serve/_s3_server.ts)
 * with `--revalidate-s 1`: an upload through A is served by B at once (B does not know the task,
 * so it asks the store), a bundle replaced through A is served new by B within the bound, a
 * delete through B is refused by A within the bound, and a third task that nobody touches is
 * served the same by both throughout and read from the store once per replica.
 */
import { loadModel } from "../../src/model/mod.ts";
import { S3BundleStore } from "../../src/serve/mod.ts";
import { assert, assertEquals } from "../_assert.ts";
import { GPT2_TOK, ROOT } from "../_fixtures.ts";
import { realBundle } from "./_real_bundle.ts";
import { S3_KEY, withS3Server } from "./_s3_server.ts";
import { withListening } from "./_serve_cli.ts";

const CLI = `${ROOT}src/cli/serve.ts`;
const REVALIDATE_S = 1;
const TOKEN = "replica-admin-token-0123456789";

/** One request, bounded in time. */
async function call(url: string, init: RequestInit = {}) {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(20_000) });
  const type = res.headers.get("content-type") ?? "";
  const body = type.includes("json") ? await res.json() : await res.text();
  return { status: res.status, body };
}

function generate(base: string, task: string) {
  return call(`${base}/v1/tasks/${task}/generate`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ prompt: "name : The Vaults", max_tokens: 4 }),
  });
}

function admin(base: string, method: "PUT" | "DELETE", task: string, body?: Uint8Array) {
  return call(`${base}/v1/tasks/${task}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}` },
    ...(body ? { body: body as Uint8Array<ArrayBuffer> } : {}),
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test({
  name:
    "Two serve replicas on one S3 store agree within --revalidate-s, and other tasks do not notice",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const model = await loadModel(GPT2_TOK);
    const [steady, fresh, swapV1, swapV2] = await Promise.all([
      realBundle(model, "steady", 3, 1),
      realBundle(model, "fresh", 4, 2),
      realBundle(model, "swap", 2, 3),
      realBundle(model, "swap", 6, 4),
    ]);
    const dir = await Deno.makeTempDir();
    const tokenFile = `${dir}/admin.token`;
    await Deno.writeTextFile(tokenFile, TOKEN, { mode: 0o600 });
    try {
      await withS3Server(async (s3) => {
        const bucket = new S3BundleStore({
          bucket: "bundles",
          prefix: "fleet",
          ...S3_KEY,
          endpoint: s3.endpoint,
        });
        await bucket.write("steady", steady);
        const env = {
          AWS_ACCESS_KEY_ID: S3_KEY.accessKeyId,
          AWS_SECRET_ACCESS_KEY: S3_KEY.secretAccessKey,
          AWS_ENDPOINT_URL: s3.endpoint,
          AWS_REGION: "us-east-1",
        };
        const args = [
          "run",
          "--unstable-no-legacy-abort",
          "-A",
          CLI,
          "--model",
          GPT2_TOK,
          "--bundles",
          "s3://bundles/fleet",
          "--revalidate-s",
          String(REVALIDATE_S),
          "--token-file",
          tokenFile,
          "--ep",
          "wasm",
          "--no-ui",
          "--port",
          "0",
        ];
        const serve = (fn: (url: string, log: string) => Promise<void>) =>
          withListening(Deno.execPath(), args, { env }, fn);
        await serve((a, logA) =>
          serve(async (b, logB) => {
            for (const log of [logA, logB]) {
              assert(log.includes("bundles: s3://bundles/fleet/, revalidated every 1 s"), log);
            }
            const steadyA = await generate(a, "steady");
            const steadyB = await generate(b, "steady");
            assertEquals([steadyA.status, steadyB.status], [200, 200], JSON.stringify(steadyA));
            assertEquals(steadyA.body.text, steadyB.body.text);
            const steadyStill = async () => {
              for (const base of [a, b]) {
                const r = await generate(base, "steady");
                assertEquals([r.status, r.body.text], [200, steadyA.body.text], base);
              }
            };

            // An upload through A is served by B at once: B has not seen the task, so it asks.
            assertEquals((await generate(b, "fresh")).status, 404);
            const put = await admin(a, "PUT", "fresh", fresh);
            assertEquals([put.status, put.body.manifest?.prefixLen], [201, 4], JSON.stringify(put));
            assertEquals(await bucket.read("fresh"), fresh, "the upload wrote through");
            const freshB = await generate(b, "fresh");
            assertEquals(freshB.status, 200, JSON.stringify(freshB.body));
            assertEquals((await generate(a, "fresh")).body.text, freshB.body.text);

            // A replacement through A is served new by B within the bound.
            assertEquals((await admin(a, "PUT", "swap", swapV1)).status, 201);
            assertEquals((await generate(b, "swap")).status, 200); // B caches v1
            const prefixLen = async (base: string) =>
              (await call(`${base}/v1/tasks`)).body.data.find((t: { task: string }) =>
                t.task === "swap"
              )?.manifest?.prefixLen;
            assertEquals(await prefixLen(b), 2);
            assertEquals((await admin(a, "PUT", "swap", swapV2)).status, 200);
            await sleep(REVALIDATE_S * 1000 + 150);
            assertEquals((await generate(b, "swap")).status, 200);
            assertEquals(await prefixLen(b), 6, "B serves the new bundle after the bound");

            // A delete through B is refused by A within the bound (A has the task cached).
            assertEquals((await generate(a, "fresh")).status, 200);
            assertEquals((await admin(b, "DELETE", "fresh")).status, 200);
            assertEquals((await generate(b, "fresh")).status, 404);
            await sleep(REVALIDATE_S * 1000 + 150);
            const gone = await generate(a, "fresh");
            assertEquals(gone.status, 404, JSON.stringify(gone.body));
            assertEquals(gone.body.error.code, "UNKNOWN_TASK");

            // The task nobody touched: the same answer everywhere, read once per replica (then
            // only revalidated with 304s).
            await steadyStill();
            await sleep(REVALIDATE_S * 1000 + 150);
            await steadyStill();
            const steadyGets = s3.seen.filter((r) =>
              r.method === "GET" && r.path.endsWith("/steady.prefix.zip")
            );
            assertEquals(steadyGets.filter((r) => r.status === 200).length, 2);
            assert(steadyGets.some((r) => r.status === 304), "steady was revalidated");
          })
        );
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
