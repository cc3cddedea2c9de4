/**
 * Serving load test, on loopback only (127.0.0.1): N concurrent clients over
 * M tasks against the HTTP server, with cross-task batching where requests
 * join the running engine batch (when the backend supports it), then with
 * batching per wave (the engine seen without `openBatch`), then the same load
 * with `maxBatch: 1` (one request at a time, no batching), and the ratios.
 * Bounded in time (`--duration` per mode) and in clients.
 *
 *   deno run -A bench/serve_load_bench.ts [--clients 64] [--tasks 32] [--duration 20]
 *       [--max-tokens 16] [--ep wasm|native|auto] [--model DIR] [--max-batch 64]
 *       [--batch-window-ms 10] [--concurrent-batches 1] [--warmup 5] [--mixed-lengths]
 *       [--mixed-by client|request]
 *
 * The clients run in a child process (network I/O in Deno runs on the JS
 * thread, so in-process clients would compete with the server's event loop).
 * Each client loops: POST /v1/completions with `model` = a task picked round
 * robin, a short prompt, greedy, `max_tokens` new tokens. Reported per mode:
 * requests/s, generated tokens/s, p50/p99 latency, errors, mean tasks and
 * rows per engine batch (from the server's metrics: per wave, or per join),
 * mean rows per decode step (joining mode, from the engine batch) and RSS
 * before/after.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { PrefixBundle } from "../src/bundle/mod.ts";
import type { ContinuousBatch } from "../src/infer/mod.ts";
import { loadModel, prefixWidth } from "../src/model/mod.ts";
import {
  bundleDecoder,
  createApp,
  createEngineWithFallback,
  FolderBundleStore,
  type ServeEngine,
} from "../src/serve/mod.ts";
import { printHelpIfAsked } from "./_help.ts";

printHelpIfAsked(import.meta.url);

const { values } = parseArgs({
  args: Deno.args,
  options: {
    clients: { type: "string", default: "64" },
    tasks: { type: "string", default: "32" },
    duration: { type: "string", default: "20" },
    "max-tokens": { type: "string", default: "16" },
    "max-batch": { type: "string", default: "64" },
    "batch-window-ms": { type: "string", default: "10" },
    "concurrent-batches": { type: "string", default: "1" },
    warmup: { type: "string", default: "5" },
    // Client c asks for max_tokens x [1/4, 1/2, 1, 2][c % 4]: rows of one batch end at different steps.
    "mixed-lengths": { type: "boolean", default: false },
    // `request`: client c's k-th request asks for max_tokens x [1/4, 1/2, 1, 2][(c + k) % 4], so
    // every mode serves the same mix. With `client` (the default) short clients come back
    // sooner, and a mode that serves them sooner serves a mix with fewer tokens per request.
    "mixed-by": { type: "string", default: "client" },
    ep: { type: "string", default: "wasm" },
    model: { type: "string" },
    // Internal: run only the clients against this URL and print JSON (see below).
    "clients-only": { type: "string" },
    help: { type: "boolean", short: "h" },
  },
  strict: true,
});
if (values.help) {
  console.log(
    "Usage: deno run -A bench/serve_load_bench.ts [--clients 64] [--tasks 32] [--duration 20] [--max-tokens 16] [--max-batch 64] [--batch-window-ms 10] [--concurrent-batches 1] [--warmup 5] [--mixed-lengths] [--mixed-by client|request] [--ep wasm|native|auto] [--model DIR]",
  );
  Deno.exit(0);
}
const CLIENTS = Math.min(256, Number(values.clients));
const TASKS = Math.min(256, Number(values.tasks));
const DURATION_S = Math.min(300, Number(values.duration));
const MAX_TOKENS = Number(values["max-tokens"]);
const MAX_BATCH = Number(values["max-batch"]);
const WINDOW_MS = Number(values["batch-window-ms"]);
const CONCURRENT = Number(values["concurrent-batches"]);
const WARMUP_S = Math.min(60, Number(values.warmup));
const MIXED = values["mixed-lengths"];
const MIXED_BY = values["mixed-by"];
if (MIXED_BY !== "client" && MIXED_BY !== "request") {
  throw new Error(`Cannot run the benchmark: --mixed-by is client or request, got ${MIXED_BY}`);
}
/** max_tokens of client c's k-th request. */
const maxTokensOf = (c: number, k: number) =>
  MIXED
    ? Math.max(
      1,
      Math.round(MAX_TOKENS * [0.25, 0.5, 1, 2][(c + (MIXED_BY === "request" ? k : 0)) % 4]),
    )
    : MAX_TOKENS;
for (const [k, v] of Object.entries({ CLIENTS, TASKS, DURATION_S, MAX_TOKENS, MAX_BATCH })) {
  if (!Number.isFinite(v) || v <= 0) throw new Error(`Cannot run the benchmark: ${k} is ${v}`);
}
const PROMPTS = ["Once upon a time", "The little dog", "Tom and Lily went", "One day, a bird"];

interface ClientResult {
  latencies: number[];
  tokens: number;
  errors: number;
  seconds: number;
}

/**
 * The load: CLIENTS loops of POST /v1/completions until the deadline. It runs
 * in a child process, so that the clients' HTTP work does not share the
 * server's event loop (Deno runs a process's network I/O on the JS thread).
 */
async function runClients(url: string): Promise<ClientResult> {
  const latencies: number[] = [];
  let tokens = 0, errors = 0, next = 0;
  const t0 = performance.now();
  const deadline = t0 + DURATION_S * 1000;
  const client = async (c: number) => {
    for (let k = 0; performance.now() < deadline; k++) {
      const task = `task-${next++ % TASKS}`;
      const start = performance.now();
      try {
        const res = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            model: task,
            prompt: PROMPTS[c % PROMPTS.length],
            max_tokens: maxTokensOf(c, k),
            temperature: 0,
          }),
        });
        const body = await res.json();
        if (!res.ok) {
          errors++;
          continue;
        }
        tokens += body.usage.completion_tokens;
        latencies.push(performance.now() - start);
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
  return { latencies, tokens, errors, seconds: (performance.now() - t0) / 1000 };
}

if (values["clients-only"]) {
  const url = new URL(values["clients-only"]);
  if (url.hostname !== "127.0.0.1") {
    throw new Error("Cannot run the load: loopback (127.0.0.1) only");
  }
  console.log(JSON.stringify(await runClients(url.href)));
  Deno.exit(0);
}

const MODEL_DIR = values.model ??
  fileURLToPath(new URL("../models/stories260K/", import.meta.url));

const model = await loadModel(MODEL_DIR);
const { engine, reason } = await createEngineWithFallback(model, values.ep);
console.log(`model ${MODEL_DIR}, backend ${engine.executionProvider} (${reason})`);

// M tasks with random prefixes of different lengths (P = 4..11), as F16 bundles.
const dir = await Deno.makeTempDir({ prefix: "serve-bench-" });
const S = prefixWidth(model.config);
let seed = 12345;
const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
for (let t = 0; t < TASKS; t++) {
  const P = 4 + (t % 8);
  const kv = new Float32Array(P * S).map(() => rand() * 0.5);
  const bundle = await PrefixBundle.create({
    prefix: { prefixLen: P, kv },
    model,
    task: `task-${t}`,
    method: { reparam: "none", gate: false, midDim: null },
  });
  await Deno.writeFile(`${dir}/task-${t}.prefix.zip`, await bundle.toBytes());
}

interface ModeResult {
  mode: string;
  requests: number;
  tokens: number;
  errors: number;
  seconds: number;
  p50: number;
  p99: number;
  tasksPerBatch: number;
  rowsPerBatch: number;
  /** Mean rows per decode forward pass (joining mode only, else NaN). */
  rowsPerStep: number;
  /** Requests that joined a batch already decoding. */
  joined: number;
  rssBeforeMb: number;
  rssAfterMb: number;
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/**
 * The engine as the server sees it: with joining (`openBatch`, whose batch
 * is kept here to read its step counters) or without it (waves).
 */
function enginePort(join: boolean, batches: ContinuousBatch[]): ServeEngine {
  const port: ServeEngine = {
    config: engine.config,
    executionProvider: engine.executionProvider,
    generateBatch: (rows) => engine.generateBatch(rows),
    countTokens: (text) => engine.countTokens(text),
    contextLeft: (p) => engine.contextLeft(p),
  };
  if (join) {
    port.openBatch = () => {
      const batch = engine.openBatch();
      batches.push(batch);
      return batch;
    };
  }
  return port;
}

async function runMode(
  mode: string,
  maxBatch: number,
  concurrent: number,
  join: boolean,
  durationS = DURATION_S,
): Promise<ModeResult> {
  const batches: ContinuousBatch[] = [];
  const app = createApp({
    engine: enginePort(join, batches),
    store: new FolderBundleStore(dir),
    decode: bundleDecoder(model),
    scheduler: {
      maxBatch,
      batchWindowMs: WINDOW_MS,
      maxConcurrentBatches: concurrent,
      maxQueue: 1024,
      queueTimeoutMs: 120_000,
    },
    log: () => {},
  });
  // Loopback only: the benchmark never listens beyond this machine.
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  const url = `http://127.0.0.1:${server.addr.port}/v1/completions`;
  // Warm the task cache so loads are not part of the measurement.
  for (let t = 0; t < TASKS; t++) await app.serve.registry.get(`task-${t}`);
  const rssBefore = Deno.memoryUsage().rss;
  const child = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      fileURLToPath(import.meta.url),
      "--clients-only",
      url,
      "--clients",
      String(CLIENTS),
      "--tasks",
      String(TASKS),
      "--duration",
      String(durationS),
      "--max-tokens",
      String(MAX_TOKENS),
      ...(MIXED ? ["--mixed-lengths", "--mixed-by", MIXED_BY] : []),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!child.success) {
    throw new Error(`Cannot run the load: the client process exited ${child.code}`);
  }
  const { latencies, tokens, errors, seconds } = JSON.parse(
    new TextDecoder().decode(child.stdout),
  ) as ClientResult;
  const rssAfter = Deno.memoryUsage().rss;
  await server.shutdown();
  app.serve.scheduler.close();
  latencies.sort((a, b) => a - b);
  const tpb = app.serve.metrics.tasksPerBatch.get();
  const rpb = app.serve.metrics.batchSize.get();
  const steps = batches.reduce((n, b) => n + b.stats.decodeSteps, 0);
  const rowSteps = batches.reduce((n, b) => n + b.stats.rowSteps, 0);
  return {
    mode,
    requests: latencies.length,
    tokens,
    errors,
    seconds,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    tasksPerBatch: tpb.count ? tpb.sum / tpb.count : 0,
    rowsPerBatch: rpb.count ? rpb.sum / rpb.count : 0,
    rowsPerStep: steps ? rowSteps / steps : NaN,
    joined: app.serve.metrics.joins.get(),
    rssBeforeMb: rssBefore / 2 ** 20,
    rssAfterMb: rssAfter / 2 ** 20,
  };
}

console.log(
  `${CLIENTS} clients, ${TASKS} tasks, ${DURATION_S} s per mode, max_tokens ${MAX_TOKENS}${
    MIXED ? ` x [1/4, 1/2, 1, 2] by ${MIXED_BY}` : ""
  }, greedy`,
);
// Warm up first with the same HTTP load, results discarded: V8 compiles
// ORT's WASM (and the client process its code) in tiers, and on a busy
// machine whichever mode ran first came out several times slower.
if (WARMUP_S > 0) await runMode("warm-up", MAX_BATCH, CONCURRENT, false, WARMUP_S);
const canJoin = engine.openBatch().joinable;
const results = [
  ...(canJoin
    ? [
      await runMode(
        `batched, joining (maxBatch=${MAX_BATCH}, window ${WINDOW_MS} ms)`,
        MAX_BATCH,
        1,
        true,
      ),
    ]
    : []),
  await runMode(
    `batched, waves (maxBatch=${MAX_BATCH}, window ${WINDOW_MS} ms, ${CONCURRENT} concurrent)`,
    MAX_BATCH,
    CONCURRENT,
    false,
  ),
  // The baseline: one request at a time, no cross-task batching.
  await runMode("one at a time (maxBatch=1)", 1, 1, false),
];
await engine.dispose();
await Deno.remove(dir, { recursive: true });

const f = (n: number, d = 1) => n.toFixed(d);
console.log(
  "\n| mode | req/s | tok/s | p50 ms | p99 ms | errors | tasks/batch | rows/batch | rows/step | joined | RSS MB before → after |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
for (const r of results) {
  console.log(
    `| ${r.mode} | ${f(r.requests / r.seconds)} | ${f(r.tokens / r.seconds)} | ${f(r.p50, 0)} | ${
      f(r.p99, 0)
    } | ${r.errors} | ${f(r.tasksPerBatch, 2)} | ${f(r.rowsPerBatch, 2)} | ${
      Number.isNaN(r.rowsPerStep) ? "-" : f(r.rowsPerStep, 2)
    } | ${r.joined} | ${f(r.rssBeforeMb, 0)} → ${f(r.rssAfterMb, 0)} |`,
  );
}
const one = results.at(-1)!;
for (const b of results.slice(0, -1)) {
  console.log(
    `\n${b.mode} / one-at-a-time: throughput ${
      f((b.tokens / b.seconds) / (one.tokens / one.seconds), 2)
    }x; p50 latency ${f(b.p50 / one.p50, 2)}x`,
  );
}
