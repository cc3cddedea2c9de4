/**
 * A Deno Deploy entry point for the prefix server.
 *
 * Deno Deploy has no WebGPU and cannot load native addons, so the engine runs
 * ONNX Runtime's WASM execution provider. It has no writable disk either, so
 * bundles come from an HTTP store: `<BUNDLES_URL>/<task>.prefix.zip` (object
 * storage, a CDN, any static file server). Uploads are off (no admin token,
 * and the HTTP store is read-only); publish a task by copying its bundle to
 * the store, and the worker loads it on first use.
 *
 * Environment:
 * - `BUNDLES_URL` (required): base URL of the bundle store.
 * - `MODEL_DIR` (optional): the base model folder shipped with the deployment
 *   (default: the embedded `models/stories260K`).
 * - `PREFIX_BUDGET_MB` (optional): memory budget for decoded prefixes (default 64).
 *
 * Run it locally the same way Deploy does:
 *
 *   BUNDLES_URL=http://127.0.0.1:8080/bundles deno run -A examples/deploy_worker.ts
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { openServer } from "../mod.ts";

const bundles = Deno.env.get("BUNDLES_URL");
if (!bundles) {
  // One line, as every command of the SDK says what is wrong: no stack trace for a setting.
  console.error(
    "error: Cannot start the worker: set BUNDLES_URL to the base URL of the bundle store",
  );
  Deno.exit(1);
}
const model = Deno.env.get("MODEL_DIR") ??
  fileURLToPath(new URL("../models/stories260K/", import.meta.url));

const { app } = await openServer({
  model,
  bundles,
  ep: "wasm",
  budgetBytes: Number(Deno.env.get("PREFIX_BUDGET_MB") ?? "64") * 1024 * 1024,
  // Small isolates: keep batches and queues modest.
  scheduler: { maxBatch: 8, batchWindowMs: 5, maxQueue: 64, requestTimeoutMs: 60_000 },
});

Deno.serve(app.fetch);
