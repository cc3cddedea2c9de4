/**
 * Two `deno task serve` replicas on one S3-compatible bucket under load, as a fleet behind a
 * round-robin load balancer sees it: N clients send greedy requests over M tasks, alternating
 * replicas; halfway through, one task is replaced through replica A. At the end each replica's
 * `/metrics` says how often it read the bucket: once per bundle version (M + 1 downloads), not once
 * per request, with the revalidations answered "not modified".
 *
 * The bucket is s3rver (npm) in this process behind a front that checks SigV4 signatures
 * (tests/serve/_s3_server.ts), so the store's own cost is a local one.
 *
 * Usage: deno run -A bench/replicas_bench.ts [--clients 8] [--tasks 4] [--seconds 20]
 *   [--revalidate-s 1] [--ep native] [--max-tokens 16]
 */
import { parseArgs } from "node:util";
import { printHelpIfAsked } from "./_help.ts";
import { loadModel } from "../src/model/mod.ts";
import { S3BundleStore } from "../src/serve/mod.ts";
import { realBundle } from "../tests/serve/_real_bundle.ts";
import { S3_KEY, withS3Server } from "../tests/serve/_s3_server.ts";
import { withListening } from "../tests/serve/_serve_cli.ts";
import { metricValue as metric } from "../tests/serve/_fakes.ts";

printHelpIfAsked(import.meta.url);
const args = parseArgs({
  args: Deno.args,
  options: {
    clients: { type: "string", default: "8" },
    tasks: { type: "string", default: "4" },
    seconds: { type: "string", default: "20" },
    "revalidate-s": { type: "string", default: "1" },
    ep: { type: "string", default: "native" },
    "max-tokens": { type: "string", default: "16" },
  },
}).values;
const CLIENTS = Number(args.clients), TASKS = Number(args.tasks);
const SECONDS = Number(args.seconds), MAX_TOKENS = Number(args["max-tokens"]);
const ROOT = new URL("../", import.meta.url);
const MODEL = new URL("models/stories260K", ROOT).pathname;
const TOKEN = "replicas-bench-token-0123456789";

const model = await loadModel(MODEL);
const names = Array.from({ length: TASKS }, (_, i) => `task-${i}`);
const bundles = await Promise.all(names.map((t, i) => realBundle(model, t, 4 + i, i + 1)));
const replacement = await realBundle(model, names[0], 12, 99);
const dir = await Deno.makeTempDir();
const tokenFile = `${dir}/admin.token`;
await Deno.writeTextFile(tokenFile, TOKEN, { mode: 0o600 });

interface ReplicaStats {
  requests: number;
  errors: number;
  tokens: number;
  latencies: number[];
}

const pct = (sorted: number[], q: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : NaN;

try {
  await withS3Server(async (s3) => {
    const bucket = new S3BundleStore({
      bucket: "bundles",
      prefix: "bench",
      ...S3_KEY,
      endpoint: s3.endpoint,
    });
    for (const [i, t] of names.entries()) await bucket.write(t, bundles[i]);
    const env = {
      AWS_ACCESS_KEY_ID: S3_KEY.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3_KEY.secretAccessKey,
      AWS_ENDPOINT_URL: s3.endpoint,
      AWS_REGION: "us-east-1",
    };
    const serveArgs = [
      "run",
      "--unstable-no-legacy-abort",
      "-A",
      new URL("src/cli/serve.ts", ROOT).pathname,
      "--model",
      MODEL,
      "--bundles",
      "s3://bundles/bench",
      "--revalidate-s",
      String(args["revalidate-s"]),
      "--token-file",
      tokenFile,
      "--ep",
      String(args.ep),
      "--no-ui",
      "--port",
      "0",
    ];
    const serve = (fn: (url: string) => Promise<void>) =>
      withListening(Deno.execPath(), serveArgs, { env }, (url) => fn(url));
    await serve((a) =>
      serve(async (b) => {
        const replicas = [a, b];
        const stats: ReplicaStats[] = replicas.map(() => ({
          requests: 0,
          errors: 0,
          tokens: 0,
          latencies: [],
        }));
        const s3GetsBefore = s3.seen.filter((r) => r.method === "GET").length;
        const start = performance.now();
        const end = start + SECONDS * 1000;
        let replaced = false;
        let next = 0;
        const client = async (c: number) => {
          while (performance.now() < end) {
            const r = next++ % replicas.length; // round robin, as a load balancer would
            const task = names[(c + next) % names.length];
            const t0 = performance.now();
            try {
              const res = await fetch(`${replicas[r]}/v1/tasks/${task}/generate`, {
                method: "POST",
                headers: { "content-type": "application/json" },
                body: JSON.stringify({ prompt: "Once upon a time", max_tokens: MAX_TOKENS }),
              });
              const body = await res.json();
              stats[r].requests++;
              if (!res.ok) stats[r].errors++;
              else stats[r].tokens += body.usage?.completion_tokens ?? 0;
            } catch {
              stats[r].requests++;
              stats[r].errors++;
            }
            stats[r].latencies.push(performance.now() - t0);
            if (!replaced && performance.now() > start + SECONDS * 500) {
              replaced = true;
              const put = await fetch(`${a}/v1/tasks/${names[0]}`, {
                method: "PUT",
                headers: { authorization: `Bearer ${TOKEN}` },
                body: replacement,
              });
              await put.body?.cancel();
              if (put.status !== 200) throw new Error(`replacing ${names[0]}: HTTP ${put.status}`);
            }
          }
        };
        await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
        const wall = (performance.now() - start) / 1000;
        const s3Gets = s3.seen.filter((r) => r.method === "GET").length - s3GetsBefore;

        console.log(
          `\nTwo replicas, one S3 bucket: ${CLIENTS} clients, ${TASKS} tasks, ${SECONDS} s, --revalidate-s ${
            args["revalidate-s"]
          }, --ep ${args.ep}, max_tokens ${MAX_TOKENS}; task ${
            names[0]
          } replaced through A halfway\n`,
        );
        console.log(
          "| replica | requests | errors | tokens/s | p50 ms | p99 ms | store downloads | not modified | loads ok |",
        );
        console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        for (const [i, url] of replicas.entries()) {
          const text = await (await fetch(`${url}/metrics`)).text();
          const s = stats[i];
          const lat = s.latencies.sort((x, y) => x - y);
          console.log(
            `| ${"AB"[i]} | ${s.requests} | ${s.errors} | ${(s.tokens / wall).toFixed(1)} | ${
              pct(lat, 0.5).toFixed(0)
            } | ${pct(lat, 0.99).toFixed(0)} | ${
              metric(text, "prefix_edge_store_reads_total", 'result="downloaded"')
            } | ${metric(text, "prefix_edge_store_reads_total", 'result="not_modified"')} | ${
              metric(text, "prefix_edge_task_loads_total", 'result="ok"')
            } |`,
          );
        }
        console.log(
          `\nThe bucket answered ${s3Gets} GETs in all (downloads and conditional GETs) for ${
            stats.reduce((n, s) => n + s.requests, 0)
          } requests; ${TASKS} + 1 bundle versions existed.`,
        );
      })
    );
  });
} finally {
  await Deno.remove(dir, { recursive: true });
}
