/**
 * Joining a running batch against waves, in the engine alone (no HTTP, no scheduler): 64
 * closed-loop clients over 32 tasks (random prefixes of 10 tokens), each asking in turn for
 * max_tokens x [1/4, 1/2, 1, 2] (so every mode serves the same mix), greedy, on stories260K's
 * plain graph and on its `--optimize` (GroupQueryAttention, ragged) export, native by default.
 *
 * - `join`: one `engine.openBatch()`; a client adds its next request as soon as its last ends.
 * - `waves`: `engine.generateBatch()` of one request per client; the next wave starts when the
 *   whole wave has ended.
 *
 * Modes alternate, `--rounds` times each, `--seconds` each; the table gives each mode's best
 * round and the ratio of the two. bench/serve_load_bench.ts measures the same through the server.
 *
 * `--model DIR` runs another model folder (`config.json`, `model.safetensors`, `tokenizer.json`)
 * instead of stories260K, and `--clients N` sets the number of clients (default 64). A model large
 * enough that a decode step is bound by reading its weights (GPT-2 small) is where a full batch
 * pays; stories260K's weights fit in cache, so its step costs in proportion to its rows.
 *
 * `--max-join-delay N` sets the batch's `maxJoinDelaySteps` (default: the engine's, 4).
 *
 * Usage: deno run -A bench/join_bench.ts [--seconds 8] [--rounds 2] [--ep native|wasm]
 *        [--max-join-delay N] [--model DIR] [--clients 64]
 */
import { parseArgs } from "node:util";
import { type ExecutionProvider, type GenerateOptions, InferenceEngine } from "../src/infer/mod.ts";
import { loadModel, type Prefix, prefixWidth } from "../src/model/mod.ts";
import { exportOnnx } from "../src/onnx/mod.ts";
import { STORIES } from "../tests/_fixtures.ts";
import { randomPrefix } from "../tests/infer/_engines.ts";
import { printHelpIfAsked } from "./_help.ts";

printHelpIfAsked(import.meta.url);
const values = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string", default: "8" },
    rounds: { type: "string", default: "2" },
    ep: { type: "string", default: "native" },
    "max-join-delay": { type: "string" },
    model: { type: "string", default: STORIES },
    clients: { type: "string", default: "64" },
  },
}).values;
const SECONDS = Number(values.seconds), ROUNDS = Number(values.rounds);
const EP = values.ep as ExecutionProvider;
const JOIN_DELAY = values["max-join-delay"] === undefined
  ? {}
  : { maxJoinDelaySteps: Number(values["max-join-delay"]) };
const CLIENTS = Number(values.clients), TASKS = 32, MAX_TOKENS = 16, MIX = [0.25, 0.5, 1, 2];
const PROMPTS = ["Once upon a time", "The little dog", "Tom and Lily went", "One day, a bird"];

const model = await loadModel(values.model!);
const S = prefixWidth(model.config);
const prefixes: Prefix[] = Array.from({ length: TASKS }, (_, i) => randomPrefix(S, 10, i + 1));
/** Client c's k-th request (n counts all requests, for the task). */
const request = (c: number, k: number, n: number): GenerateOptions => ({
  prompt: PROMPTS[c % PROMPTS.length],
  prefix: prefixes[n % TASKS],
  maxNewTokens: Math.round(MAX_TOKENS * MIX[(c + k) % MIX.length]),
  eosTokenIds: [],
});

interface Result {
  tokensPerSec: number;
  requestsPerSec: number;
}

async function run(engine: InferenceEngine, mode: "join" | "waves"): Promise<Result> {
  let tokens = 0, requests = 0, n = 0;
  const t0 = performance.now(), end = t0 + SECONDS * 1000;
  if (mode === "join") {
    const batch = engine.openBatch(JOIN_DELAY);
    await Promise.all(Array.from({ length: CLIENTS }, async (_, c) => {
      for (let k = 0; performance.now() < end; k++) {
        // Awaited first: `tokens += await ...` would read `tokens` before the wait.
        const r = await batch.add(request(c, k, n++)).result;
        tokens += r.tokenIds.length;
        requests++;
      }
    }));
  } else {
    for (let k = 0; performance.now() < end; k++) {
      const wave = engine.generateBatch(
        Array.from({ length: CLIENTS }, (_, c) => request(c, k, n++)),
      );
      for (const r of await Promise.all(wave.map((s) => s.result))) {
        tokens += r.tokenIds.length;
        requests++;
      }
    }
  }
  const s = (performance.now() - t0) / 1000;
  return { tokensPerSec: tokens / s, requestsPerSec: requests / s };
}

const dir = await Deno.makeTempDir({ prefix: "join-bench-" });
const plain = await exportOnnx(values.model!, { out: `${dir}/plain.onnx` });
const optimized = await exportOnnx(values.model!, { out: `${dir}/ragged.onnx`, optimize: true });
const graphs = [
  { name: "plain", onnx: await Deno.readFile(plain.onnxPath) },
  { name: "--optimize (ragged)", onnx: await Deno.readFile(optimized.onnxPath) },
];
console.log(
  `${model.config.modelType} ${model.config.numLayers}x${model.config.hiddenSize}, ${CLIENTS} clients, ${TASKS} tasks, max_tokens ${MAX_TOKENS} x [${MIX}] by request, ` +
    `${SECONDS} s a round, ${ROUNDS} rounds, ${EP}, maxJoinDelaySteps ${
      JOIN_DELAY.maxJoinDelaySteps ?? "default"
    }`,
);
console.log("\n| graph | mode | tokens/s | requests/s | join / waves (tokens/s) |");
console.log("| --- | --- | ---: | ---: | ---: |");
for (const g of graphs) {
  const engine = await InferenceEngine.create(model, {
    executionProvider: EP,
    onnx: g.onnx,
  });
  const best: Record<string, Result> = {};
  await run(engine, "join"); // warm-up, discarded
  for (let r = 0; r < ROUNDS; r++) {
    for (const mode of ["join", "waves"] as const) {
      const x = await run(engine, mode);
      if (!best[mode] || x.tokensPerSec > best[mode].tokensPerSec) best[mode] = x;
    }
  }
  await engine.dispose();
  const ratio = best.join.tokensPerSec / best.waves.tokensPerSec;
  for (const mode of ["join", "waves"] as const) {
    const x = best[mode];
    console.log(
      `| ${g.name} | ${mode} | ${x.tokensPerSec.toFixed(0)} | ${x.requestsPerSec.toFixed(0)} | ${
        mode === "join" ? `${ratio.toFixed(2)}x` : ""
      } |`,
    );
  }
}
await Deno.remove(dir, { recursive: true });
