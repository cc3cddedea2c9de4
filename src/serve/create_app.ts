/**
 * `createApp`: the HTTP server as a Hono app. It holds no listener, so it
 * runs under `Deno.serve(app.fetch)`, on Deno Deploy, or behind any platform
 * that speaks `fetch(Request) -> Response`.
 *
 * @module
 */
import { Hono } from "hono";
import { cors } from "hono/cors";
import { methodNotAllowed } from "hono/method-not-allowed";
import { PrefixEdgeError } from "../errors/mod.ts";
import type { ServeContext } from "./serve_context.ts";
import type { BundleStore } from "./bundle_store.ts";
import type { ServeEngine } from "./engine_port.ts";
import { errorResponse, toPrefixEdgeError } from "./error_response.ts";
import { addGenerationRoutes, OPENAI_PATHS } from "./generation_routes.ts";
import { DEFAULT_LIMITS, type ServeLimits } from "./request_params.ts";
import { createScheduler, Scheduler, type SchedulerOptions } from "./scheduler.ts";
import { ServerMetrics } from "./server_metrics.ts";
import { MetricsRegistry } from "./prometheus.ts";
import { addTaskRoutes } from "./task_routes.ts";
import { addUiRoutes } from "./ui_routes.ts";
import { type BundleDecoder, TaskRegistry } from "./task_registry.ts";

/**
 * Parse `--cors` style origins: `*`, or a comma-separated list of origins.
 *
 * @param value `*`, `https://a.example,https://b.example`, or a list
 * @returns `*` or the list of origins
 * @throws {PrefixEdgeError} `INVALID_INPUT` for an origin that is not `scheme://host[:port]`
 *
 * @example Parse the flag's value
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { parseCorsOrigins } from "./create_app.ts";
 * assertEquals(parseCorsOrigins("https://a.example, http://localhost:5173"), [
 *   "https://a.example",
 *   "http://localhost:5173",
 * ]);
 * ```
 */
export function parseCorsOrigins(value: string | string[]): "*" | string[] {
  const list = (Array.isArray(value) ? value : value.split(",")).map((o) => o.trim())
    .filter((o) => o.length > 0);
  if (list.includes("*")) return "*";
  if (list.length === 0) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      "Cannot enable CORS: no origin given (use * or a list)",
    );
  }
  for (const o of list) {
    let ok = false;
    try {
      const u = new URL(o);
      ok = (u.protocol === "http:" || u.protocol === "https:") && u.origin === o;
    } catch { /* not a URL */ }
    if (!ok) {
      throw new PrefixEdgeError(
        "INVALID_INPUT",
        `Cannot enable CORS for ${JSON.stringify(o)}: an origin is scheme://host[:port], no path`,
      );
    }
  }
  return list;
}

/** Whether a path answers in OpenAI's shape (errors use OpenAI's code names there). */
function isOpenAiPath(path: string): boolean {
  return OPENAI_PATHS.includes(path) || path === "/v1/models" || path.startsWith("/v1/models/");
}

/** Options for {@link createApp}. */
export interface CreateAppOptions {
  /** The inference engine (one base model). */
  engine: ServeEngine;
  /** A ready registry; or give `store` and `decode` and one is built. */
  registry?: TaskRegistry;
  /** Where bundles live (when no `registry` is given). */
  store?: BundleStore;
  /** Verifies bundle bytes against the base model (when no `registry` is given). */
  decode?: BundleDecoder;
  /** Memory budget for decoded prefixes, bytes (default 256 MiB). */
  budgetBytes?: number;
  /**
   * Check a cached task against the store at most this often, ms (default 5000; when no
   * `registry` is given). Replicas on one store agree within this bound.
   */
  revalidateMs?: number;
  /** A ready scheduler, or options for a new one. */
  scheduler?: Scheduler | SchedulerOptions;
  /** Bearer token for PUT/DELETE; `null`/absent turns those routes off. */
  adminToken?: string | null;
  /** Request limits; missing fields take {@link DEFAULT_LIMITS}. */
  limits?: Partial<ServeLimits>;
  /** Shared metrics (pass the same object to a registry/scheduler you build). */
  metrics?: ServerMetrics;
  /** Log sink for one-line events and server errors (default `console.error`). */
  log?: (line: string) => void;
  /**
   * Origins that browsers may call the server from: `*`, or a list (a comma-separated string
   * works too). Absent: no CORS headers, so cross-origin browser pages cannot call it.
   */
  cors?: string | string[];
  /**
   * The browser build's folder (`dist/web/`): its playground is served at `/` (a redirect to
   * `/ui/`). Absent: no page.
   */
  ui?: string;
}

/** The app plus the parts a caller may want to reach (tests, shutdown). */
export interface ServeApp extends Hono {
  /** Internals, for tests and graceful shutdown. */
  readonly serve: Readonly<ServeContext>;
}

/**
 * Build the server.
 *
 * Routes: `GET /healthz`, `GET /v1/tasks`, `GET /v1/models`, `GET /v1/models/:id`,
 * `POST /v1/tasks/:task/generate`, `POST /v1/completions`, `POST /v1/chat/completions`,
 * `PUT /v1/tasks/:task`, `DELETE /v1/tasks/:task`, `GET /metrics`; with `ui`, the playground at
 * `GET /` and `GET /ui/*`.
 * Every error answers `{"error":{"code","message","type","param"}}`; a known path with the
 * wrong method is 405 with an `Allow` header. With `cors`, browsers on those origins may call it.
 *
 * @param options engine, bundles, scheduler, limits and admin token
 * @returns a Hono app (`app.fetch` serves requests)
 * @throws {PrefixEdgeError} `INVALID_INPUT` when neither `registry` nor
 *   `store` + `decode` is given
 *
 * @example Serve a folder of bundles
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { InferenceEngine } from "../infer/mod.ts";
 * import { loadModel } from "../model/mod.ts";
 * import { bundleDecoder, createApp, FolderBundleStore } from "./mod.ts";
 * const model = await loadModel("models/stories260K");
 * const engine = await InferenceEngine.create(model, { executionProvider: "wasm" });
 * const bundles = await Deno.makeTempDir(); // <task>.prefix.zip files go here
 * const app = createApp({
 *   engine,
 *   store: new FolderBundleStore(bundles),
 *   decode: bundleDecoder(model),
 *   scheduler: { maxBatch: 16, batchWindowMs: 5 },
 *   cors: "*",
 * });
 * // Deno.serve({ port: 8000 }, app.fetch) serves it; here one request goes straight to the app.
 * const res = await app.request("/v1/chat/completions", {
 *   method: "POST",
 *   body: JSON.stringify({ model: "base", messages: [{ role: "user", content: "Hi" }], max_tokens: 4 }),
 * });
 * const body = await res.json();
 * assertEquals([res.status, body.choices[0].finish_reason, body.usage.completion_tokens], [200, "length", 4]);
 * app.serve.scheduler.close();
 * await engine.dispose();
 * await Deno.remove(bundles, { recursive: true });
 * ```
 */
export function createApp(options: CreateAppOptions): ServeApp {
  const metrics = options.metrics ?? new ServerMetrics();
  let registry = options.registry;
  if (!registry) {
    if (!options.store || !options.decode) {
      throw new PrefixEdgeError(
        "INVALID_INPUT",
        "Cannot create the app: pass a registry, or a store and a decode function",
      );
    }
    registry = new TaskRegistry({
      store: options.store,
      decode: options.decode,
      budgetBytes: options.budgetBytes,
      config: options.engine.config,
      metrics,
      revalidateMs: options.revalidateMs,
      log: (line) => (options.log ?? ((l: string) => console.error(l)))(line),
    });
  }
  const scheduler = options.scheduler instanceof Scheduler
    ? options.scheduler
    : createScheduler(options.engine, { ...options.scheduler, metrics });
  const ctx: ServeContext = {
    engine: options.engine,
    registry,
    scheduler,
    metrics,
    limits: { ...DEFAULT_LIMITS, ...options.limits },
    adminToken: options.adminToken ?? null,
    log: options.log ?? ((line) => console.error(line)),
  };

  const app = new Hono();
  if (options.cors !== undefined) {
    const origin = parseCorsOrigins(options.cors);
    app.use("*", cors({ origin, exposeHeaders: ["retry-after"], maxAge: 600 }));
  }
  // Count every request by its route pattern (not its path: task names would make the label
  // set unbounded) and final status. Registered first, so it sees what the client got: a 405
  // below counts as 405 under its route's pattern, not as an unmatched 404.
  app.use("*", async (c, next) => {
    await next();
    const matched = c.req.routePath && !["*", "/*"].includes(c.req.routePath)
      ? c.req.routePath
      : routePattern(app, c.req.path);
    metrics.requests.inc({
      route: `${c.req.method} ${matched ?? "unmatched"}`,
      status: String(c.res.status),
    });
  });
  // A known path with the wrong method is 405 with an Allow header, not 404; Hono derives the
  // methods from the routes registered below.
  app.use(
    "*",
    methodNotAllowed({
      app,
      onMethodNotAllowed: (c, allow) =>
        errorResponse(
          new PrefixEdgeError(
            "METHOD_NOT_ALLOWED",
            `Cannot ${c.req.method} ${c.req.path}: this route takes ${allow.join(", ")}`,
          ),
          { allow: allow.join(", ") },
        ),
    }),
  );

  app.onError((err, c) => {
    const e = toPrefixEdgeError(err);
    if (e.code === "INTERNAL_ERROR") {
      ctx.log(`error on ${c.req.method} ${c.req.path}: ${(e.cause as Error)?.stack ?? e.cause}`);
    }
    const openai = isOpenAiPath(c.req.path);
    const param = !openai
      ? undefined
      : e.code === "UNKNOWN_TASK"
      ? "model"
      : e.code === "CONTEXT_OVERFLOW"
      ? (c.req.path === "/v1/chat/completions" ? "messages" : "prompt")
      : undefined;
    return errorResponse(e, {}, { openai, param });
  });
  app.notFound((c) =>
    errorResponse(
      new PrefixEdgeError(
        "ROUTE_NOT_FOUND",
        `Cannot ${c.req.method} ${c.req.path}: no such route (see GET /healthz and /v1/tasks)`,
      ),
    )
  );

  app.get("/healthz", (c) => {
    const cfg = ctx.engine.config;
    return c.json({
      status: "ok",
      model: {
        family: cfg.family,
        num_layers: cfg.numLayers,
        num_kv_heads: cfg.numKvHeads,
        head_dim: cfg.headDim,
        max_positions: cfg.maxPositions,
        vocab_size: cfg.vocabSize,
      },
      execution_provider: ctx.engine.executionProvider ?? null,
      store: {
        location: registry.store.location,
        writable: registry.store.writable,
        revalidate_s: registry.store.readVersion ? registry.revalidateMs / 1000 : null,
      },
      uploads_enabled: ctx.adminToken !== null,
      scheduler: healthScheduler(scheduler),
      tasks_loaded: registry.cached().length,
    });
  });

  app.get("/metrics", (c) => {
    // Gauges that are cheaper to read than to keep in sync.
    const stats = scheduler.stats();
    metrics.queueDepth.set(stats.queued);
    metrics.activeRows.set(stats.activeRows);
    metrics.tasksLoaded.set(registry.cached().length);
    metrics.cacheBytes.set(registry.cachedBytes);
    return c.body(metrics.render(), 200, { "content-type": MetricsRegistry.CONTENT_TYPE });
  });

  addTaskRoutes(app, ctx);
  addGenerationRoutes(app, ctx);
  if (options.ui !== undefined) addUiRoutes(app, options.ui);

  return Object.assign(app, { serve: ctx as Readonly<ServeContext> });
}

/** The scheduler's limits and state for `GET /healthz`, in the API's snake_case. */
function healthScheduler(scheduler: Scheduler): Record<string, number | boolean> {
  const s = scheduler.stats();
  return {
    max_batch: scheduler.maxBatch,
    batch_window_ms: scheduler.batchWindowMs,
    max_queue: scheduler.maxQueue,
    queued: s.queued,
    active_rows: s.activeRows,
    running_batches: s.runningBatches,
    joining: s.joining,
    joined_rows: s.joinedRows,
  };
}

/** The registered route pattern a path matches (any method), or null. */
function routePattern(app: Hono, path: string): string | null {
  for (const r of app.routes) {
    if (r.path === "*" || r.path === "/*") continue;
    const re = new RegExp(`^${r.path.replace(/:[^/]+/g, "[^/]+")}$`);
    if (re.test(path)) return r.path;
  }
  return null;
}
