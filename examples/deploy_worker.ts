/**
 * A Deno Deploy entry point for the prefix server.
 *
 * Deno Deploy has no WebGPU and cannot load native addons, so the engine runs
 * ONNX Runtime's WASM execution provider. It has no writable disk either, so
 * bundles come from an S3-compatible bucket (`s3://BUCKET/PREFIX`: AWS S3,
 * Cloudflare R2, MinIO; signed with the `AWS_*` variables) or from an HTTP
 * store (`https://.../<task>.prefix.zip`: object storage, a CDN, any static
 * file server). Every isolate reads the same store and revalidates what it
 * cached every `REVALIDATE_S` seconds, so a task published with
 * `deno task train --publish` or `deno task bundle push` reaches them all.
 *
 * Environment:
 * - `BUNDLES` (required; `BUNDLES_URL` is its older name): `s3://BUCKET/PREFIX`
 *   or an http(s) base URL.
 * - `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
 *   `AWS_ENDPOINT_URL` (R2: `https://<account>.r2.cloudflarestorage.com`,
 *   region `auto`): for an s3:// store.
 * - `ADMIN_TOKEN` (optional, a secret): enables `PUT`/`DELETE /v1/tasks/:task`,
 *   which write through to an s3:// store (an HTTP store is read-only).
 * - `REVALIDATE_S` (optional): how stale an isolate may be (default 5).
 * - `MODEL_DIR` (optional): the base model folder shipped with the deployment
 *   (default: the embedded `models/stories260K`).
 * - `PREFIX_BUDGET_MB` (optional): memory budget for decoded prefixes (default 64).
 * - `PORT`, `HOST` (optional, outside Deploy): where to listen (default 0.0.0.0:8000).
 *
 * Run it locally the same way Deploy does:
 *
 *   BUNDLES=http://127.0.0.1:8080/bundles deno run -A examples/deploy_worker.ts
 *   BUNDLES=s3://prefixes/prod AWS_ENDPOINT_URL=http://127.0.0.1:9000 \
 *     AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... deno run -A examples/deploy_worker.ts
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { openServer } from "../mod.ts";

const bundles = Deno.env.get("BUNDLES") ?? Deno.env.get("BUNDLES_URL");
if (!bundles) {
  // One line, as every command of the SDK says what is wrong: no stack trace for a setting.
  console.error(
    "error: Cannot start the worker: set BUNDLES to s3://BUCKET/PREFIX or the base URL of the bundle store",
  );
  Deno.exit(1);
}
const revalidateS = Number(Deno.env.get("REVALIDATE_S") ?? "5");
const model = Deno.env.get("MODEL_DIR") ??
  fileURLToPath(new URL("../models/stories260K/", import.meta.url));

const { app } = await openServer({
  model,
  bundles,
  ep: "wasm",
  adminToken: Deno.env.get("ADMIN_TOKEN") || null,
  revalidateMs: revalidateS * 1000,
  budgetBytes: Number(Deno.env.get("PREFIX_BUDGET_MB") ?? "64") * 1024 * 1024,
  // Small isolates: keep batches and queues modest.
  scheduler: { maxBatch: 8, batchWindowMs: 5, maxQueue: 64, requestTimeoutMs: 60_000 },
});

// Deploy picks the address itself; elsewhere PORT and HOST choose it (default 0.0.0.0:8000).
Deno.serve({
  port: Number(Deno.env.get("PORT") ?? "8000"),
  hostname: Deno.env.get("HOST") ?? "0.0.0.0",
  onListen: ({ hostname, port }) => console.error(`listening on http://${hostname}:${port}`),
}, app.fetch);
