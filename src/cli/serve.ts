/**
 * `deno task serve`: serve many tasks (prefix bundles) from one base model
 * over HTTP. See docs/serving.md for the routes.
 *
 *   deno task serve [--model DIR] [--bundles DIR|URL|s3://BUCKET/PREFIX] [--port 8000] [--ep auto]
 *                   [--token-file FILE] [--budget-mb 256] [--max-batch 16] ...
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { PrefixEdgeError } from "../errors/mod.ts";
import {
  FolderBundleStore,
  openServer,
  type OpenServerOptions,
  parseCorsOrigins,
} from "../serve/mod.ts";
import {
  type CliSpec,
  type CliValues,
  numberOption,
  parseCli,
  runCli,
  UsageError,
} from "./_args.ts";
import { readTokenFile } from "./_token_file.ts";

const DEFAULT_MODEL = fileURLToPath(new URL("../../models/stories260K", import.meta.url));
/** The browser build (`deno task build:web`), whose playground `/` serves. */
const WEB_BUILD = fileURLToPath(new URL("../../dist/web", import.meta.url));

const SPEC: CliSpec = {
  usage: "deno task serve [--model DIR] [--bundles DIR|URL|s3://BUCKET/PREFIX] [options]",
  description:
    "Serve many tasks from one base model: OpenAI-compatible /v1/chat/completions, /v1/completions " +
    "and /v1/models (model = task name, or 'base'), " +
    "/v1/tasks/:task/generate with SSE streaming, uploads (PUT /v1/tasks/:task, bearer token), and /metrics. " +
    "Bundles are <task>.prefix.zip files in a folder, in an S3-compatible bucket (s3://BUCKET/PREFIX, " +
    "configured by AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION, AWS_ENDPOINT_URL " +
    "and AWS_S3_FORCE_PATH_STYLE), or under an http(s) base URL (read-only). " +
    "Replicas on one store agree within --revalidate-s. " +
    "Without --token-file, uploads and deletes are off.",
  options: {
    model: {
      type: "string",
      valueName: "DIR",
      description:
        "Base model folder: config.json, tokenizer.json, onnx/model.onnx (default models/stories260K)",
    },
    bundles: {
      type: "string",
      valueName: "DIR|URL|s3://BUCKET/PREFIX",
      description:
        "Bundle store: a folder of <task>.prefix.zip files or of training runs (<task>/<task>.prefix.zip), " +
        "an S3-compatible bucket s3://BUCKET/PREFIX (AWS_* variables; path-style addressing when AWS_ENDPOINT_URL is set), " +
        "or an http(s) base URL (default ./runs, where deno task train writes)",
    },
    "revalidate-s": {
      type: "string",
      valueName: "S",
      description:
        "Check a cached bundle against the store (ETag, or a file's inode+size+mtime) at most every S seconds, " +
        "so a bundle replaced or deleted by another replica is served new or refused within S (default 5; 0 = every request)",
    },
    port: {
      type: "string",
      valueName: "N",
      description: "TCP port (default 8000; 0 = any free port)",
    },
    host: {
      type: "string",
      valueName: "ADDR",
      description: "Address to listen on (default 127.0.0.1; use 0.0.0.0 to accept remote clients)",
    },
    ep: {
      type: "string",
      valueName: "NAME",
      description:
        "auto | webgpu | native | wasm (default auto: hardware WebGPU, else native, else wasm)",
    },
    "draft-tokens": {
      type: "string",
      valueName: "N",
      description:
        "most draft tokens a forward pass checks for a request decoding alone, drafted from its prompt and text; the tokens do not change (default 4, 0 = off)",
    },
    "token-file": {
      type: "string",
      valueName: "FILE",
      description: "File holding the bearer token for PUT/DELETE /v1/tasks/:task",
    },
    "budget-mb": {
      type: "string",
      valueName: "MB",
      description: "Memory budget for decoded prefixes, LRU-evicted (default 256)",
    },
    "max-batch": {
      type: "string",
      valueName: "N",
      description: "Most rows per engine batch, across tasks (default 16; 1 = no batching)",
    },
    "batch-window-ms": {
      type: "string",
      valueName: "MS",
      description: "How long a request waits for others to batch with (default 10)",
    },
    "concurrent-batches": {
      type: "string",
      valueName: "N",
      description:
        "Engine batches that may decode at once (default 1; a freed slot starts a new wave when > 1)",
    },
    "no-join": {
      type: "boolean",
      description:
        "Batch in waves: new requests wait for the running batch to finish instead of joining it " +
        "at the next step (joining is on by default)",
    },
    "max-queue": {
      type: "string",
      valueName: "N",
      description: "Most waiting requests before 429 (default 256)",
    },
    "timeout-s": {
      type: "string",
      valueName: "S",
      description: "Longest request, queue included, before 504 (default 120)",
    },
    cors: {
      type: "string",
      valueName: "ORIGINS",
      description:
        "Let browser pages on these origins call the server: * or a comma-separated list " +
        "(default: off, no CORS headers)",
    },
    "max-tokens": {
      type: "string",
      valueName: "N",
      description: "Largest max_tokens a request may ask for (default 512)",
    },
    "no-ui": {
      type: "boolean",
      description:
        "Do not serve the playground page at / (default: served from dist/web, which deno task build:web makes)",
    },
  },
};

function positive(values: CliValues, name: string, dflt: number, kind: "int" | "float" = "int") {
  const v = numberOption(values, name, kind) ?? dflt;
  if (v < (name === "port" || name === "batch-window-ms" ? 0 : 1e-9)) {
    throw new UsageError(`Cannot parse --${name}: ${v} is out of range`);
  }
  return v;
}

/** `--revalidate-s`: seconds, 0 or more (default 5). */
function revalidateSeconds(values: CliValues): number {
  const v = numberOption(values, "revalidate-s", "float") ?? 5;
  if (!(v >= 0) || !Number.isFinite(v)) {
    throw new UsageError(`Cannot parse --revalidate-s: ${v} is out of range (0 or more seconds)`);
  }
  return v;
}

/**
 * A mistyped --bundles path would otherwise serve an empty store without a word: refuse a
 * file, and say so when the folder does not exist yet.
 */
async function checkBundleFolder(
  bundles: string,
  uploads: boolean,
  log: (line: string) => void,
): Promise<void> {
  if (/^(https?|s3):\/\//i.test(bundles)) return;
  try {
    const stat = await Deno.stat(bundles);
    if (!stat.isDirectory) {
      throw new PrefixEdgeError(
        "INVALID_INPUT",
        `Cannot use --bundles ${bundles}: it is a file; pass a folder of <task>.prefix.zip files or an http(s) URL`,
      );
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    log(
      `warning: the bundle folder ${bundles} does not exist; only 'base' can be served${
        uploads ? " until a task is uploaded (the folder is created then)" : ""
      }`,
    );
  }
}

async function main(): Promise<void> {
  const values = parseCli(SPEC, Deno.args);
  if (!values) return;
  const port = positive(values, "port", 8000);
  if (port > 65535) {
    throw new UsageError(`Cannot parse --port: ${port} > 65535`);
  }
  const hostname = (values.host as string | undefined) ?? "127.0.0.1";
  const adminToken = values["token-file"]
    ? await readTokenFile(values["token-file"] as string, "--token-file")
    : null;
  const log = (line: string) => console.error(`[serve] ${line}`);
  const ep = (values.ep as string | undefined) ?? "auto";
  if (!["auto", "wasm", "webgpu", "native"].includes(ep)) {
    throw new UsageError(`Cannot parse --ep: "${ep}" is not auto, wasm, webgpu or native`);
  }
  const bundles = (values.bundles as string | undefined) ?? "runs";
  // Every flag is parsed before the first warning, so a usage error is the only line printed.
  const options: OpenServerOptions = {
    model: (values.model as string | undefined) ?? DEFAULT_MODEL,
    bundles,
    ep,
    draftTokens: numberOption(values, "draft-tokens", "int", 0),
    adminToken,
    budgetBytes: positive(values, "budget-mb", 256, "float") * 1024 * 1024,
    revalidateMs: revalidateSeconds(values) * 1000,
    scheduler: {
      maxBatch: positive(values, "max-batch", 16),
      batchWindowMs: positive(values, "batch-window-ms", 10),
      maxQueue: positive(values, "max-queue", 256),
      maxConcurrentBatches: positive(values, "concurrent-batches", 1),
      requestTimeoutMs: Math.round(positive(values, "timeout-s", 120, "float") * 1000),
      joinRunningBatch: values["no-join"] !== true,
    },
    limits: { maxTokens: positive(values, "max-tokens", 512) },
    ...(values.cors !== undefined ? { cors: parseCorsOrigins(values.cors as string) } : {}),
    ...(values["no-ui"] === true ? {} : { ui: WEB_BUILD }),
    log,
  };
  await checkBundleFolder(bundles, adminToken !== null, log);
  const started = performance.now();
  const { app, engine, model, backendReason: _ } = await openServer(options);
  const cfg = model.config;
  const store = app.serve.registry.store;
  log(
    `model: ${model.paths.dir} (${cfg.family}, L=${cfg.numLayers}, H=${cfg.numKvHeads}, hd=${cfg.headDim}, ${cfg.maxPositions} positions)`,
  );
  log(
    `bundles: ${store.location}${store.writable ? "" : " (read-only)"}${
      store.readVersion ? `, revalidated every ${app.serve.registry.revalidateMs / 1000} s` : ""
    }`,
  );
  if (store instanceof FolderBundleStore) {
    // Say what is served and what is left out, so a run that is not served is not a mystery.
    const { tasks, skipped } = await store.survey();
    log(`tasks: ${tasks.length ? tasks.join(", ") : "none yet"} (and base)`);
    for (const line of skipped) log(`skipped ${line}`);
  }
  log(`uploads: ${adminToken ? "on (bearer token)" : "off (no --token-file)"}`);
  if (values.cors !== undefined) log(`cors: ${values.cors}`);
  if (values["no-ui"] !== true) {
    const built = await Deno.stat(`${WEB_BUILD}/index.html`).then(() => true, () => false);
    log(
      built
        ? "playground: at / (the page trains and runs prefixes in the browser)"
        : "playground: not built (deno task build:web makes it; --no-ui hides this line)",
    );
  }
  const server = Deno.serve({
    port,
    hostname,
    onListen: ({ hostname, port }) =>
      log(
        `listening on http://${hostname}:${port} (ready in ${
          Math.round(performance.now() - started)
        } ms)`,
      ),
  }, app.fetch);
  const stop = async () => {
    log("shutting down");
    app.serve.scheduler.close();
    await server.shutdown();
    await engine.dispose();
    Deno.exit(0);
  };
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    try {
      Deno.addSignalListener(sig, stop);
    } catch {
      // Not every platform has every signal (Windows has no SIGTERM).
    }
  }
  await server.finished;
}

if (import.meta.main) await runCli(main);
