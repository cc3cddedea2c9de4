/**
 * Inference benchmark (run by `deno task bench`, or
 * `deno run -A bench/infer_bench.ts [--quick]`).
 *
 * 1. Decode overhead: tokens/s of `engine.generate` (greedy, batch 1) against
 *    a minimal hand-written ORT decode loop on the same graph and EP. The loop
 *    builds int64 feeds, runs, takes the argmax and feeds the presents back:
 *    everything the engine adds (validation, streaming, detokenization, the
 *    KV-cache bookkeeping) shows up in the ratio.
 * 2. Mixed-prefix batch: tokens/s of a batch of 8 rows with 8 different
 *    prefixes (P = 2..9) against the same 8 rows sharing one prefix (P = 9).
 *
 * Models: stories260K (Llama, 5 layers) for wasm and native; gpt2-tiny with
 * few tokens for webgpu (ORT's WebGPU EP on a software adapter is slow).
 */
import { InferenceEngine } from "../src/infer/mod.ts";
import { loadModel, type Prefix, prefixWidth } from "../src/model/mod.ts";
import { printHelpIfAsked } from "./_help.ts";
import { rawDecodeLoop } from "./_measure.ts";

printHelpIfAsked(import.meta.url);

const QUICK = Deno.args.includes("--quick");
const ROOT = new URL("../", import.meta.url).pathname;
const STORIES = `${ROOT}models/stories260K`;
const GPT2_TINY = `${ROOT}tests/fixtures/gpt2-tiny/model`;

type Ep = "wasm" | "native" | "webgpu";

function randomPrefix(S: number, P: number, seed: number): Prefix {
  let s = seed >>> 0;
  const kv = new Float32Array(P * S);
  for (let i = 0; i < kv.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    kv[i] = (s / 2 ** 32 - 0.5) * 0.2;
  }
  return { prefixLen: P, kv };
}

/**
 * `engine.generate` on the same graph and EP. Returns a tokens/s runner. Drafts are off: this
 * measures what the engine adds around each forward pass, and the raw loop makes one pass a token.
 */
async function engineLoop(
  ep: Ep,
  dir: string,
): Promise<{ run(steps: number): Promise<number>; release(): Promise<void> }> {
  const engine = await InferenceEngine.create(await loadModel(dir), {
    executionProvider: ep,
    draftTokens: 0,
  });
  async function run(steps: number): Promise<number> {
    const t0 = performance.now();
    const stream = engine.generate({ inputIds: [], maxNewTokens: steps, eosTokenIds: [] });
    let n = 0;
    for await (const _ of stream) n++;
    return n / ((performance.now() - t0) / 1000);
  }
  return { run, release: () => engine.dispose() };
}

/** Batch of 8 with 8 different prefixes vs one shared prefix. Returns tokens/s for each. */
async function batchLoop(ep: Ep, dir: string, steps: number): Promise<[number, number]> {
  const model = await loadModel(dir);
  const engine = await InferenceEngine.create(model, { executionProvider: ep });
  const S = prefixWidth(model.config);
  const mixed = Array.from({ length: 8 }, (_, i) => randomPrefix(S, 2 + i, i + 1));
  const shared = randomPrefix(S, 9, 99);
  const run = async (prefixes: Prefix[]) => {
    const t0 = performance.now();
    const rows = prefixes.map((prefix, i) => ({
      inputIds: [model.config.bosTokenId ?? 0, 10 + i],
      prefix,
      maxNewTokens: steps,
      eosTokenIds: [],
    }));
    const results = await Promise.all(engine.generateBatch(rows).map((s) => s.result));
    const n = results.reduce((a, r) => a + r.tokenIds.length, 0);
    return n / ((performance.now() - t0) / 1000);
  };
  try {
    await run([shared]); // warm-up
    let m = 0, sh = 0;
    for (let i = 0; i < 3; i++) {
      m = Math.max(m, await run(mixed));
      sh = Math.max(sh, await run(prefixes8(shared)));
    }
    return [m, sh];
  } finally {
    await engine.dispose();
  }
}

function prefixes8(p: Prefix): Prefix[] {
  return new Array(8).fill(p);
}

const plan: { ep: Ep; dir: string; name: string; steps: number; batchSteps: number }[] = [
  {
    ep: "wasm",
    dir: STORIES,
    name: "stories260K",
    steps: QUICK ? 64 : 256,
    batchSteps: QUICK ? 16 : 64,
  },
  {
    ep: "native",
    dir: STORIES,
    name: "stories260K",
    steps: QUICK ? 64 : 256,
    batchSteps: QUICK ? 16 : 64,
  },
  { ep: "webgpu", dir: GPT2_TINY, name: "gpt2-tiny", steps: 8, batchSteps: 4 },
];

const nativeOk = await import("onnxruntime-node").then(() => true, () => false);
const gpuOk = (await navigator.gpu?.requestAdapter()) != null;
const header = [
  "EP",
  "model",
  "raw ORT loop tok/s",
  "engine.generate tok/s",
  "overhead (raw/engine)",
  "batch 8, 8 prefixes tok/s",
  "batch 8, 1 prefix tok/s",
  "mixed/shared",
];
console.log(`| ${header.join(" | ")} |`);
console.log(`|${header.map(() => "---").join("|")}|`);
for (const c of plan) {
  if ((c.ep === "native" && !nativeOk) || (c.ep === "webgpu" && !gpuOk)) {
    console.log(`| ${c.ep} | ${c.name} | skipped (not available) | | | | | |`);
    continue;
  }
  const rawModel = await loadModel(c.dir);
  const rawRunner = await rawDecodeLoop(c.ep, rawModel.config, await rawModel.readOnnx());
  const engRunner = await engineLoop(c.ep, c.dir);
  await rawRunner.run(4); // warm-up (shader compilation, WASM init)
  await engRunner.run(4);
  // Best of N, alternating, so that load from other processes hits both alike.
  let raw = 0, eng = 0;
  for (let i = 0; i < (c.ep === "webgpu" ? 2 : 5); i++) {
    raw = Math.max(raw, await rawRunner.run(c.steps));
    eng = Math.max(eng, await engRunner.run(c.steps));
  }
  await rawRunner.release();
  await engRunner.release();
  const [mixed, shared] = await batchLoop(c.ep, c.dir, c.batchSteps);
  const f = (x: number) => x.toFixed(1);
  console.log(
    `| ${c.ep} | ${c.name} (${c.steps} tokens; batch ${c.batchSteps}/row) | ${f(raw)} | ${
      f(eng)
    } | ${(raw / eng).toFixed(2)} | ${f(mixed)} | ${f(shared)} | ${(mixed / shared).toFixed(2)} |`,
  );
}
Deno.exit(0);
