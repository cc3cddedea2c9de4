/**
 * The SDK in a browser tab against Deno, in one run: the main job's training step (stories260K on
 * pet-stories, its settings: P=20, B=8) in headless Chromium on WASM (onnxruntime-web) and on
 * SwiftShader's WebGPU, against the native CLI backend and Deno's own WASM; and stories260K's
 * greedy decoding in tokens/s in the tab on WASM against Deno's WASM. With `--full`, the whole
 * main job in the tab on WASM (dev metric and early stopping as the CLI runs it), its wall time
 * and held-out exact share against the native CLI's.
 *
 * Usage: deno run -A bench/web_bench.ts [--steps 20] [--full] [--js-flags FLAGS] [--warm-s S]
 *
 * - `--js-flags FLAGS`: V8 flags for the tab (Chromium's `--js-flags`), e.g.
 *   `--no-wasm-dynamic-tiering` to compile all of onnxruntime-web's WASM with the optimizing tier.
 * - `--warm-s S`: wait S seconds after the page loads (and after one warm-up decode) before the
 *   tab's measurements, so that background compilation is over.
 *
 * Needs Chromium (apt-get install chromium); builds dist/web when it is stale.
 */
import puppeteer from "puppeteer-core";
import { parseArgs } from "node:util";
import { printHelpIfAsked } from "./_help.ts";
import { CHROMIUM_ARGS, distStale, findChromium, serveStatic } from "../tests/web/_browser.ts";
import { buildWeb } from "../src/web/build.ts";
import type { WebSdk } from "../tests/web/_browser.ts";
import * as deno from "../src/web/mod.ts";

printHelpIfAsked(import.meta.url);
const args = parseArgs({
  args: Deno.args,
  options: {
    steps: { type: "string", default: "20" },
    full: { type: "boolean" },
    "js-flags": { type: "string" },
    "warm-s": { type: "string", default: "0" },
  },
}).values;
const STEPS = Number(args.steps);
const ROOT = new URL("../", import.meta.url);

/** Runs in the page and in Deno alike: `sdk` is the browser build there, its source here. */
async function mainJobSteps(
  a: { base: string; backend: string; steps: number; full: boolean },
  sdkArg?: WebSdk,
) {
  const sdk = sdkArg ?? (globalThis as unknown as { sdk: WebSdk }).sdk;
  const base = new URL(a.base, typeof location === "undefined" ? undefined : location.href);
  const t0 = performance.now();
  const model = await sdk.loadModel(new URL(`${sdk.MAIN_JOB_FILES.model}/`, base));
  const text = async (rel: string) => await (await fetch(new URL(rel, base))).text();
  const slots = await text(sdk.MAIN_JOB_FILES.slots);
  const trainEx = sdk.parseExamples(await text(sdk.MAIN_JOB_FILES.train), "train.jsonl", { slots });
  const devEx = sdk.parseExamples(await text(sdk.MAIN_JOB_FILES.dev), "dev.jsonl", { slots });
  const eosTokenId = (await sdk.endOfOutputToken(model)).id;
  const maxLen = sdk.MAIN_JOB_OPTIONS.maxLen!;
  const tok = model.requireTokenizer();
  const trainSet = await sdk.tokenizeDataset(trainEx, tok, { maxLen, eosTokenId });
  const devSet = await sdk.tokenizeDataset(devEx, tok, { maxLen, eosTokenId });
  const elapsed: number[] = [];
  const devMetric = a.full
    ? await sdk.generationDevMetric(model, devEx, {
      executionProvider: "wasm",
      ...sdk.taskUsage(trainSet).generation,
    })
    : undefined;
  const result = await sdk.train(
    model,
    a.full ? { train: trainSet, dev: devSet } : { train: trainSet },
    {
      ...sdk.MAIN_JOB_OPTIONS,
      ...(a.full ? {} : { steps: a.steps, evalEvery: 0, checkpointEvery: 0, logEvery: 1 }),
      outDir: sdk.memoryRun(),
      backend: a.backend as "wasm",
    },
    {
      progress: false,
      onBackend: () => {},
      ...(devMetric ? { devMetric } : {}),
      onLog: (r) => {
        if (r.type === "train") elapsed.push(r.elapsedSec);
      },
    },
  );
  await devMetric?.dispose();
  // The first step compiles (WebGPU pipelines, ORT's session): time the rest.
  const steps = elapsed.slice(1).map((t, i) => t - elapsed[i]).sort((x, y) => x - y);
  return {
    backend: result.backend,
    threads: sdk.defaultWasmThreads(),
    stepSec: steps[Math.floor(steps.length / 2)] ?? NaN,
    steps: result.steps,
    wallSec: (performance.now() - t0) / 1000,
    exact: result.best?.scores?.exact ?? null,
  };
}

/** Greedy decoding of stories260K on WASM: tokens/s of 128 new tokens (after a warm-up). */
async function decode(a: { base: string }, sdkArg?: WebSdk) {
  const sdk = sdkArg ?? (globalThis as unknown as { sdk: WebSdk }).sdk;
  const base = new URL(a.base, typeof location === "undefined" ? undefined : location.href);
  const model = await sdk.loadModel(new URL(`${sdk.MAIN_JOB_FILES.model}/`, base));
  const engine = await sdk.InferenceEngine.create(model, { executionProvider: "wasm" });
  try {
    await engine.generate({ prompt: "Once upon a time", maxNewTokens: 16 }).result;
    const t = performance.now();
    const r = await engine.generate({ prompt: "Once upon a time", maxNewTokens: 128 }).result;
    return {
      tokens: r.tokenIds.length,
      tokensPerSec: r.tokenIds.length / ((performance.now() - t) / 1000),
    };
  } finally {
    await engine.dispose();
  }
}

const chromium = findChromium();
if (!chromium) {
  console.error("error: no Chromium (apt-get install chromium, or set CHROMIUM_PATH)");
  Deno.exit(1);
}
if (distStale()) await buildWeb(new URL("dist/web/", ROOT), () => {});

const rows: string[][] = [];
const row = (where: string, what: string, value: string, vs: string) =>
  rows.push([where, what, value, vs]);

// Deno first (native, then WASM), each the same function the page runs.
const denoBase = new URL("./", ROOT).href;
const deno_ = deno as unknown as WebSdk;
const native = await mainJobSteps(
  { base: denoBase, backend: "native", steps: STEPS, full: false },
  deno_,
);
const denoWasm = await mainJobSteps(
  { base: denoBase, backend: "wasm", steps: STEPS, full: false },
  deno_,
);
const denoDecode = await decode({ base: denoBase }, deno_);

const server = serveStatic();
const browser = await puppeteer.launch({
  executablePath: chromium,
  args: args["js-flags"] ? [...CHROMIUM_ARGS, `--js-flags=${args["js-flags"]}`] : CHROMIUM_ARGS,
  protocolTimeout: 3_600_000,
});
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(3_600_000);
  await page.goto(`http://127.0.0.1:${server.addr.port}/tests/web/page/`);
  await page.waitForFunction("globalThis.sdkReady !== undefined");
  // The page fetches the main job from the build's assets.
  const base = "/dist/web/assets/";
  const warmS = Number(args["warm-s"]);
  if (warmS > 0) {
    await page.evaluate(decode, { base });
    await new Promise((r) => setTimeout(r, warmS * 1000));
  }
  const tabWasm = await page.evaluate(mainJobSteps, {
    base,
    backend: "wasm",
    steps: STEPS,
    full: false,
  });
  const tabGpu = await page.evaluate(mainJobSteps, {
    base,
    backend: "webgpu",
    steps: STEPS,
    full: false,
  });
  const tabDecode = await page.evaluate(decode, { base });

  const s = (x: number) => x.toFixed(3);
  row("Deno", `main job step, native (${native.backend})`, s(native.stepSec), "1.00x");
  row(
    "Deno",
    `main job step, WASM (${denoWasm.backend}, ${denoWasm.threads} threads)`,
    s(denoWasm.stepSec),
    `${s(denoWasm.stepSec / native.stepSec)}x`,
  );
  row(
    "Chromium tab",
    `main job step, WASM (${tabWasm.backend}, ${tabWasm.threads} threads)`,
    s(tabWasm.stepSec),
    `${s(tabWasm.stepSec / native.stepSec)}x`,
  );
  row(
    "Chromium tab",
    `main job step, WebGPU SwiftShader (${tabGpu.backend})`,
    s(tabGpu.stepSec),
    `${s(tabGpu.stepSec / native.stepSec)}x`,
  );
  row("Deno", "stories260K decode, WASM (tokens/s)", denoDecode.tokensPerSec.toFixed(1), "1.00x");
  row(
    "Chromium tab",
    "stories260K decode, WASM (tokens/s)",
    tabDecode.tokensPerSec.toFixed(1),
    `${s(tabDecode.tokensPerSec / denoDecode.tokensPerSec)}x`,
  );

  if (args.full) {
    const cli = await mainJobSteps(
      { base: denoBase, backend: "native", steps: 0, full: true },
      deno_,
    );
    const tab = await page.evaluate(mainJobSteps, { base, backend: "wasm", steps: 0, full: true });
    row(
      "Deno",
      `the whole main job, native: wall s (steps, dev exact)`,
      `${cli.wallSec.toFixed(1)} (${cli.steps}, ${cli.exact})`,
      "1.00x",
    );
    row(
      "Chromium tab",
      `the whole main job, WASM: wall s (steps, dev exact)`,
      `${tab.wallSec.toFixed(1)} (${tab.steps}, ${tab.exact})`,
      `${s(tab.wallSec / cli.wallSec)}x`,
    );
  }
} finally {
  await browser.close();
  await server.shutdown();
}

console.log(`\nMain job step (median of ${STEPS - 1}, s) and decoding, tab against Deno:\n`);
console.log("| where | what | value | vs Deno native / Deno WASM |");
console.log("| --- | --- | ---: | ---: |");
for (const r of rows) console.log(`| ${r.join(" | ")} |`);
