/**
 * Serving soak test: `deno task serve` (the real CLI, real engine) held under load for
 * --duration seconds, on loopback only, with the server process's RSS sampled every
 * --sample-s seconds. The goal: zero errors, and no RSS growth after warm-up.
 * Ten minutes by default, so `deno task bench` (which runs the `*_bench.ts` scripts) leaves it
 * out; run it on its own.
 *
 *   deno run -A bench/serve_soak.ts [--duration 600] [--sample-s 10] [--warmup-s 60]
 *       [--clients 16] [--tasks 8] [--max-tokens 16] [--ep wasm] [--model models/stories260K]
 *
 * Each client loops over four request kinds, round robin over the tasks (and `base`): chat
 * completions plain and streamed (with usage), and completions plain and streamed. A request
 * that is not 200, or a stream that does not end with `[DONE]`, counts as an error. RSS is read
 * from /proc/<pid>/status (Linux). Printed: one row per sample (time, RSS, requests, errors), then
 * RSS at the end of warm-up, at the end, the largest, and the growth after warm-up.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { PrefixBundle } from "../src/bundle/mod.ts";
import { loadModel, prefixWidth, SeededRandom } from "../src/model/mod.ts";
import { printHelpIfAsked } from "./_help.ts";

printHelpIfAsked(import.meta.url);
const { values } = parseArgs({
  args: Deno.args,
  options: {
    duration: { type: "string", default: "600" },
    "sample-s": { type: "string", default: "10" },
    "warmup-s": { type: "string", default: "60" },
    clients: { type: "string", default: "16" },
    tasks: { type: "string", default: "8" },
    "max-tokens": { type: "string", default: "16" },
    ep: { type: "string", default: "wasm" },
    model: { type: "string" },
  },
  strict: true,
});
const ROOT = fileURLToPath(new URL("../", import.meta.url));
const MODEL = values.model ?? `${ROOT}models/stories260K`;
const DURATION_S = Number(values.duration), SAMPLE_S = Number(values["sample-s"]);
const WARMUP_S = Math.min(Number(values["warmup-s"]), DURATION_S / 2);
const CLIENTS = Number(values.clients), TASKS = Number(values.tasks);
const MAX_TOKENS = Number(values["max-tokens"]);

// Bundles: TASKS random prefixes of different lengths for the model.
const model = await loadModel(MODEL);
const bundles = await Deno.makeTempDir({ prefix: "soak-bundles-" });
const rng = new SeededRandom(1);
const S = prefixWidth(model.config);
for (let t = 0; t < TASKS; t++) {
  const P = 2 + (t % 6);
  const bundle = await PrefixBundle.create({
    prefix: { prefixLen: P, kv: rng.normals(P * S, 0.5) },
    model,
    task: `t${t}`,
    method: { reparam: "none", gate: false, midDim: null },
    training: { data: "random", steps: 0 },
  });
  await Deno.writeFile(`${bundles}/t${t}.prefix.zip`, await bundle.toBytes({ dtype: "F16" }));
}

const server = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "--unstable-no-legacy-abort",
    "-A",
    `${ROOT}src/cli/serve.ts`,
    "--model",
    MODEL,
    "--bundles",
    bundles,
    "--port",
    "0",
    "--ep",
    values.ep!,
  ],
  stdout: "null",
  stderr: "piped",
}).spawn();
const reader = server.stderr.pipeThrough(new TextDecoderStream()).getReader();
let log = "", url: string | undefined;
while (!url) {
  const { value, done } = await reader.read();
  if (done) throw new Error(`the server did not start:\n${log}`);
  log += value;
  url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(log)?.[1];
}
// Keep draining the server's log so it never blocks on a full pipe.
(async () => {
  while (!(await reader.read()).done) { /* drain */ }
})().catch(() => {});

function rssMiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

let requests = 0, errors = 0;
const errorSamples: string[] = [];
const fail = (what: string) => {
  errors++;
  if (errorSamples.length < 5) errorSamples.push(what);
};
const started = performance.now();
const deadline = started + DURATION_S * 1000;

async function client(c: number): Promise<void> {
  for (let i = 0; performance.now() < deadline; i++) {
    const task = (c + i) % (TASKS + 1) === TASKS ? "base" : `t${(c + i) % (TASKS + 1)}`;
    const kind = (c + i) % 4;
    const chat = kind < 2, stream = kind % 2 === 1;
    const body = chat
      ? { model: task, messages: [{ role: "user", content: `Tell a story ${i}` }] }
      : { model: task, prompt: `Once upon a time ${i}` };
    try {
      const res = await fetch(`${url}/v1/${chat ? "chat/completions" : "completions"}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          ...body,
          max_tokens: MAX_TOKENS,
          temperature: 0,
          stream,
          ...(stream ? { stream_options: { include_usage: true } } : {}),
        }),
      });
      const text = await res.text();
      if (res.status !== 200) fail(`${res.status} ${text.slice(0, 200)}`);
      else if (stream && !text.trimEnd().endsWith("data: [DONE]")) {
        fail(`no [DONE]: ${text.slice(-200)}`);
      }
      requests++;
    } catch (e) {
      fail(String(e));
    }
  }
}

const samples: { t: number; rss: number; requests: number; errors: number }[] = [];
const sample = () =>
  samples.push({
    t: (performance.now() - started) / 1000,
    rss: rssMiB(server.pid),
    requests,
    errors,
  });
sample();
const timer = setInterval(sample, SAMPLE_S * 1000);
await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
clearInterval(timer);
sample();
server.kill("SIGTERM");
await server.status;
await Deno.remove(bundles, { recursive: true });

console.log("| t (s) | server RSS (MiB) | requests | errors |\n| ---: | ---: | ---: | ---: |");
for (const s of samples) {
  console.log(`| ${s.t.toFixed(0)} | ${s.rss.toFixed(1)} | ${s.requests} | ${s.errors} |`);
}
const afterWarmup = samples.filter((s) => s.t >= WARMUP_S);
const atWarmup = afterWarmup[0] ?? samples.at(-1)!;
const end = samples.at(-1)!;
const max = Math.max(...afterWarmup.map((s) => s.rss));
console.log(
  `\n${DURATION_S} s, ${CLIENTS} clients, ${TASKS} tasks + base, ${MAX_TOKENS} tokens, ep ${values.ep}: ` +
    `${requests} requests (${(requests / DURATION_S).toFixed(1)}/s), ${errors} errors. ` +
    `RSS after ${WARMUP_S} s warm-up ${atWarmup.rss.toFixed(1)} MiB, at the end ${
      end.rss.toFixed(1)
    } MiB (max ${max.toFixed(1)}): growth ${(end.rss - atWarmup.rss).toFixed(1)} MiB.`,
);
if (errorSamples.length) console.log(`first errors:\n  ${errorSamples.join("\n  ")}`);
Deno.exit(errors === 0 ? 0 : 1);
