/**
 * `openServer`: the whole server from a model folder and a bundle store, with
 * the real inference engine and real bundle verification. The CLI and the
 * Deno Deploy example both start here.
 *
 * @module
 */
import { PrefixBundle } from "../bundle/mod.ts";
import type { InferenceEngine } from "../infer/mod.ts";
import { type LoadedModel, loadModel } from "../model/mod.ts";
import type { BundleStore } from "./bundle_store.ts";
import { createApp, type CreateAppOptions, type ServeApp } from "./create_app.ts";
import { openBundleStore } from "./open_bundle_store.ts";
import { createEngineWithFallback } from "./pick_backend.ts";
import type { BundleDecoder } from "./task_registry.ts";

/** Options for {@link openServer}. */
export interface OpenServerOptions
  extends Omit<CreateAppOptions, "engine" | "registry" | "store" | "decode"> {
  /** Base model folder (HF layout with onnx/model.onnx and tokenizer.json), or a loaded model. */
  model: string | LoadedModel;
  /** Bundle folder, `http(s)://` base URL, or a ready store. */
  bundles: string | BundleStore;
  /** `auto` (default: hardware WebGPU, else native, else WASM) or one provider. */
  ep?: string;
  /** The engine's `draftTokens` (default 4; 0 = no drafts from the prompt). */
  draftTokens?: number;
  /** Largest bundle to read from the store or accept as an upload (default 64 MiB). */
  maxBundleBytes?: number;
}

/** What {@link openServer} built. */
export interface OpenedServer {
  /** The Hono app: `Deno.serve(app.fetch)`. */
  app: ServeApp;
  /** The engine (dispose it on shutdown). */
  engine: InferenceEngine;
  /** The base model. */
  model: LoadedModel;
  /** Why the engine's backend was chosen. */
  backendReason: string;
}

/**
 * The decoder the server uses: verify a bundle against the base model.
 *
 * @param model the base model
 * @returns a {@link BundleDecoder}
 */
export function bundleDecoder(model: LoadedModel): BundleDecoder {
  return async (bytes, task) => {
    const bundle = await PrefixBundle.fromBytes(bytes, { model, source: `${task}.prefix.zip` });
    return { manifest: bundle.manifest, prefix: bundle.prefix };
  };
}

/**
 * Load the model, start the engine on the best backend, and build the app.
 *
 * @param options model, bundles, backend and the {@link createApp} options
 * @returns the app, engine, model and the backend's reason
 * @throws {PrefixEdgeError} from `loadModel` (`FILE_NOT_FOUND`, ...), the
 *   engine (`BACKEND_UNAVAILABLE`, ...) or the store (`INVALID_INPUT`)
 *
 * @example Serve a folder of bundles on port 8000
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { openServer } from "./open_server.ts";
 * const { app, engine } = await openServer({
 *   model: "models/stories260K",
 *   bundles: await Deno.makeTempDir(),
 *   ep: "wasm",
 *   log: () => {},
 * });
 * // Deno.serve({ port: 8000 }, app.fetch) serves it on port 8000.
 * assertEquals((await (await app.request("/v1/models")).json()).data[0].id, "base");
 * app.serve.scheduler.close();
 * await engine.dispose();
 * ```
 */
export async function openServer(options: OpenServerOptions): Promise<OpenedServer> {
  const log = options.log ?? ((line: string) => console.error(line));
  const model = typeof options.model === "string" ? await loadModel(options.model) : options.model;
  model.requireTokenizer(); // text in, text out: fail at startup, not on the first request
  const store = typeof options.bundles === "string"
    ? openBundleStore(options.bundles, options.maxBundleBytes)
    : options.bundles;
  const { engine, reason } = await createEngineWithFallback(model, options.ep, log, undefined, {
    draftTokens: options.draftTokens,
  });
  const { model: _m, bundles: _b, ep: _e, draftTokens: _d, maxBundleBytes, ...rest } = options;
  const app = createApp({
    ...rest,
    engine,
    store,
    decode: bundleDecoder(model),
    log,
    limits: { ...(maxBundleBytes ? { maxUploadBytes: maxBundleBytes } : {}), ...options.limits },
  });
  return { app, engine, model, backendReason: reason };
}
