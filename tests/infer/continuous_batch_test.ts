/**
 * Continuous batching: rows that join a running batch at step boundaries
 * (different prefixes, different P, one row without a prefix, joined at
 * different steps, leaving at different steps) must produce exactly the
 * tokens each row produces alone. Runs on the CPU backends, and on WebGPU,
 * where the cache is merged and compacted on the GPU.
 */
import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { PrefixEdgeError } from "../../src/errors/mod.ts";
import { GPT2_TINY, readCases, STORIES } from "../_fixtures.ts";
import {
  type ContinuousBatch,
  type GenerateOptions,
  type GenerationStream,
  InferenceEngine,
} from "../../src/infer/mod.ts";
import { loadModel, type Prefix, prefixWidth } from "../../src/model/mod.ts";
import {
  countCacheDownloads,
  drain,
  NO_NATIVE,
  NO_WEBGPU,
  randomPrefix,
  readOracle,
} from "./_engines.ts";

const CPU_PROVIDERS = [
  { ep: "wasm", ignore: false },
  { ep: "native", ignore: NO_NATIVE },
] as const;

/** The first `P` prefix tokens of an oracle prefix: a valid, shorter prefix. */
function firstTokens(prefix: Prefix, P: number): Prefix {
  const S = prefix.kv.length / prefix.prefixLen;
  return { prefixLen: P, kv: prefix.kv.slice(0, P * S) };
}

/** A row and the step boundary at which it is added (0 = starts the batch). */
interface Planned {
  at: number;
  row: GenerateOptions;
}

/**
 * Run `plan` through one batch, adding each row at its boundary, and return
 * each row's drained stream (in plan order) and the batch.
 */
async function runJoined(engine: InferenceEngine, plan: Planned[]) {
  const outs: Promise<Awaited<ReturnType<typeof drain>>>[] = new Array(plan.length);
  const rowOf = new Map<GenerationStream, number>();
  const logits: Float32Array[][] = plan.map(() => []);
  let added = 0;
  let allAdded!: () => void;
  const everyRowAdded = new Promise<void>((r) => (allAdded = r));
  const addDue = (batch: ContinuousBatch, index: number) => {
    plan.forEach((p, i) => {
      if (p.at !== index) return;
      const stream: GenerationStream = batch.add(p.row);
      rowOf.set(stream, i);
      outs[i] = drain(stream);
      if (++added === plan.length) allAdded();
    });
  };
  const seen: { index: number; liveRows: number; waitingRows: number }[] = [];
  const batch: ContinuousBatch = engine.openBatch({
    maxJoinDelaySteps: 0, // join at the planned boundary
    onStep: (s) => {
      seen.push(s);
      // Rows planned at 0 were added before the loop started (they started it).
      if (s.index > 0) addDue(batch, s.index);
    },
    onLogits: (stream, k, l) => (logits[rowOf.get(stream)!][k] = l),
  });
  addDue(batch, 0);
  await everyRowAdded;
  return { results: await Promise.all(outs), batch, seen, logits };
}

/** Each step's logits of one row generated alone. */
async function aloneLogits(engine: InferenceEngine, row: GenerateOptions): Promise<Float32Array[]> {
  const steps: Float32Array[] = [];
  await drain(engine.openBatch({ onLogits: (_, k, l) => (steps[k] = l) }).add(row));
  return steps;
}

/** Largest |a - b| over every step of two runs of one row (same step count). */
function maxStepDiff(a: Float32Array[], b: Float32Array[]): number {
  assertEquals(a.length, b.length, "same number of steps");
  let worst = 0;
  a.forEach((x, k) => x.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - b[k][j])))));
  return worst;
}

for (const { ep, ignore } of CPU_PROVIDERS) {
  Deno.test({
    name:
      `rows joining a running batch on gpt2-tiny with oracle prefixes equal each row alone on ${ep}`,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const { cases } = await readCases(GPT2_TINY);
      const greedy = cases.find((x) => x.greedy)!;
      const p0 = (await readOracle(`${GPT2_TINY}/${greedy.file}`)).prefix; // P = 4
      const p1 = (await readOracle(`${GPT2_TINY}/${cases[0].file}`)).prefix;
      const p2 = (await readOracle(`${GPT2_TINY}/${cases[2].file}`)).prefix;
      const engine = await InferenceEngine.create(await loadModel(`${GPT2_TINY}/model`), {
        executionProvider: ep,
      });
      try {
        assert(engine.openBatch().joinable, "the cache is on the CPU");
        const prompt = greedy.greedy!.prompt;
        const n = greedy.greedy!.tokens.length;
        assert(n >= 10, "the oracle row outlives every join");
        const plan: Planned[] = [
          // Starts alone: the oracle's greedy case.
          { at: 0, row: { inputIds: prompt, prefix: p0, maxNewTokens: n } },
          // Two rows join at boundary 3 in one prefill: one with P = 2, one without prefix.
          { at: 3, row: { inputIds: [5, 9, 2], prefix: firstTokens(p1, 2), maxNewTokens: 3 } },
          { at: 3, row: { inputIds: [7, 1, 1, 4, 3], prefix: null, maxNewTokens: 6 } },
          // Joins at boundary 6 with a prompt wider than the running cache (P = 3).
          {
            at: 6,
            row: {
              inputIds: Array.from({ length: 24 }, (_, i) => (i * 7) % 50),
              prefix: firstTokens(p2, 3),
              maxNewTokens: 9,
            },
          },
        ].map((p) => ({ ...p, row: { ...p.row, eosTokenIds: [] } }));
        const { results, batch, logits } = await runJoined(engine, plan);
        assertEquals(results[0].ids, greedy.greedy!.tokens, "the oracle's tokens");
        for (let i = 0; i < plan.length; i++) {
          const alone = await drain(engine.generate(plan[i].row));
          assertEquals(results[i].ids, alone.ids, `row ${i}`);
          assertEquals(results[i].ids.length, plan[i].row.maxNewTokens);
          // Logits too: every step of a joined row equals the same step alone (DESIGN §2: 1e-4).
          const diff = maxStepDiff(logits[i], await aloneLogits(engine, plan[i].row));
          assert(diff < 1e-4, `row ${i}: logits differ by ${diff}`);
        }
        const stats = batch.stats;
        assertEquals(stats.joins, 2, "two prefills merged into the running batch");
        assertEquals(stats.rowsJoined, 3);
        assertEquals(stats.prefills, 3);
        assertEquals(stats.maxLiveRows, 3, "row 1 left before row 3 joined");
      } finally {
        await engine.dispose();
      }
    },
  });

  Deno.test({
    name:
      `rows joining a running batch on stories260K (greedy and sampled) equal each row alone on ${ep}`,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      // stories260K is trained, so its choices react to small changes in attention.
      const model = await loadModel(STORIES);
      const engine = await InferenceEngine.create(model, { executionProvider: ep });
      const S = prefixWidth(model.config);
      try {
        const plan: Planned[] = [
          {
            at: 0,
            row: { prompt: "Lily saw a", prefix: randomPrefix(S, 4, 1, 0.3), maxNewTokens: 20 },
          },
          { at: 0, row: { prompt: "Tom", prefix: null, maxNewTokens: 4 } },
          {
            at: 2,
            row: {
              prompt: "Once upon a time, a dog",
              prefix: randomPrefix(S, 2, 2, 0.3),
              maxNewTokens: 12,
            },
          },
          {
            at: 5,
            row: {
              prompt: "The sun",
              prefix: randomPrefix(S, 7, 3, 0.3),
              maxNewTokens: 10,
              temperature: 1,
              seed: 7,
            },
          },
          { at: 9, row: { prompt: "A big red ball", prefix: null, maxNewTokens: 8 } },
        ].map((p) => ({ ...p, row: { ...p.row, eosTokenIds: [] } }));
        const { results, batch, seen, logits } = await runJoined(engine, plan);
        for (let i = 0; i < plan.length; i++) {
          const alone = await drain(engine.generate(plan[i].row));
          assertEquals(results[i].ids, alone.ids, `row ${i}`);
          assertEquals(results[i].result.text, alone.result.text, `row ${i}`);
          assertEquals(results[i].ids.length, plan[i].row.maxNewTokens);
          const diff = maxStepDiff(logits[i], await aloneLogits(engine, plan[i].row));
          assert(diff < 1e-4, `row ${i}: logits differ by ${diff}`);
        }
        assertEquals(batch.stats.joins, 3);
        // Each late row joined while others were decoding.
        for (const at of [2, 5, 9]) assert(seen[at].liveRows > 0, `boundary ${at} had live rows`);
      } finally {
        await engine.dispose();
      }
    },
  });
}

Deno.test({
  name: "a batch keeps taking rows after it has emptied, and generateBatch rows never join another",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const engine = await InferenceEngine.create(await loadModel(STORIES), {
      executionProvider: "wasm",
    });
    try {
      const batch = engine.openBatch();
      const first = await drain(batch.add({ prompt: "Tom", maxNewTokens: 3 }));
      assertEquals(batch.size, 0);
      const again = await drain(batch.add({ prompt: "Tom", maxNewTokens: 3 }));
      assertEquals(again.ids, first.ids);
      assertEquals(batch.stats.joins, 0, "the second row started a fresh batch");
      const [a, b] = engine.generateBatch([
        { prompt: "Lily", maxNewTokens: 3 },
        { prompt: "Tom", maxNewTokens: 0 },
      ]).map(drain);
      assertEquals((await a).ids.length, 3);
      assertEquals((await b).result.finishReason, "length");
    } finally {
      await engine.dispose();
    }
  },
});

Deno.test({
  name: "a row that is few next to the live rows waits up to maxJoinDelaySteps, then joins exactly",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const model = await loadModel(STORIES);
    const engine = await InferenceEngine.create(model, { executionProvider: "wasm" });
    try {
      assertThrows(
        () => engine.openBatch({ maxJoinDelaySteps: -1 }),
        (e) => assert(e instanceof PrefixEdgeError && e.code === "INVALID_INPUT"),
      );
      const S = prefixWidth(model.config);
      const late: GenerateOptions = {
        prompt: "Tom",
        prefix: randomPrefix(S, 3, 9, 0.3),
        maxNewTokens: 5,
        eosTokenIds: [],
      };
      const waiting: number[] = [];
      let lateOut: ReturnType<typeof drain> | undefined;
      const batch: ContinuousBatch = engine.openBatch({
        maxJoinDelaySteps: 2,
        onStep: (s) => {
          waiting[s.index] = s.waitingRows;
          if (s.index === 2) lateOut = drain(batch.add(late));
        },
      });
      // Five live rows: one waiting row is less than a quarter of them.
      const early = ["Lily", "The sun", "A dog", "Once", "Tim"].map((prompt) =>
        drain(batch.add({ prompt, maxNewTokens: 12, eosTokenIds: [] }))
      );
      await Promise.all(early);
      const joined = await lateOut!;
      // Added at boundary 2 (after its count was taken), waiting at 3 and 4, joined at 4.
      assertEquals(waiting.slice(2, 6), [0, 1, 1, 0], "it waited two decode steps, then joined");
      assertEquals(batch.stats.joins, 1);
      assertEquals(joined.ids, (await drain(engine.generate(late))).ids);
    } finally {
      await engine.dispose();
    }
  },
});

Deno.test({
  name:
    "on webgpu (cache on the GPU) rows join mid-decode and leave early on the GPU, equal to alone and to wasm",
  ignore: NO_WEBGPU,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { cases } = await readCases(GPT2_TINY);
    const greedy = cases.find((x) => x.greedy)!;
    const p0 = (await readOracle(`${GPT2_TINY}/${greedy.file}`)).prefix; // P = 4
    const p1 = (await readOracle(`${GPT2_TINY}/${cases[0].file}`)).prefix;
    const p2 = (await readOracle(`${GPT2_TINY}/${cases[2].file}`)).prefix;
    const model = await loadModel(`${GPT2_TINY}/model`);
    // Few tokens: WebGPU may be a slow software adapter here.
    const plan: Planned[] = [
      { at: 0, row: { inputIds: greedy.greedy!.prompt, prefix: p0, maxNewTokens: 8 } },
      // Join at boundary 2 in one prefill: P = 2, and no prefix. Row 1 leaves first.
      { at: 2, row: { inputIds: [5, 9, 2], prefix: firstTokens(p1, 2), maxNewTokens: 2 } },
      { at: 2, row: { inputIds: [7, 1, 1, 4, 3], prefix: null, maxNewTokens: 5 } },
      // Joins at boundary 4 after row 1 left, with a prompt wider than the running cache (P = 3):
      // when it leaves before row 0, row 0's leading padding columns are dropped on the GPU too.
      {
        at: 4,
        row: {
          inputIds: Array.from({ length: 14 }, (_, i) => (i * 7) % 50),
          prefix: firstTokens(p2, 3),
          maxNewTokens: 3,
        },
      },
    ].map((p) => ({ ...p, row: { ...p.row, eosTokenIds: [] } }));
    const wasm = await InferenceEngine.create(model, { executionProvider: "wasm" });
    let onWasm: Awaited<ReturnType<typeof runJoined>>;
    try {
      onWasm = await runJoined(wasm, plan);
    } finally {
      await wasm.dispose();
    }
    // A merge or compaction through the CPU would download every cache slot.
    const downloads = countCacheDownloads();
    const engine = await InferenceEngine.create(model, { executionProvider: "webgpu" });
    try {
      assert(engine.openBatch().joinable, "the cache graphs run on the GPU");
      const { results, batch, seen, logits } = await runJoined(engine, plan);
      for (let i = 0; i < plan.length; i++) {
        assertEquals(results[i].ids, onWasm.results[i].ids, `row ${i}: webgpu differs from wasm`);
        assertEquals(results[i].ids.length, plan[i].row.maxNewTokens);
        assertEquals(results[i].ids, (await drain(engine.generate(plan[i].row))).ids, `row ${i}`);
        const diff = maxStepDiff(logits[i], await aloneLogits(engine, plan[i].row));
        assert(diff < 1e-4, `row ${i}: logits differ by ${diff}`);
      }
      const stats = batch.stats;
      assertEquals(stats.joins, 2, "two prefills merged into the decoding batch");
      assertEquals(stats.rowsJoined, 3);
      assertEquals(stats, onWasm.batch.stats, "the same batch history as on wasm");
      assertEquals(seen, onWasm.seen);
      // Row 1 left at once: the live rows shrank while others still decoded.
      const live = seen.map((s) => s.liveRows);
      assert(
        live.some((n, i) => n > 0 && n < live[i - 1]),
        `finished rows were dropped (live rows per boundary: ${live})`,
      );
      assertEquals(downloads.count, 0, "the KV cache was copied to the CPU");
    } finally {
      downloads.restore();
      await engine.dispose();
    }
  },
});

for (const { ep, ignore } of CPU_PROVIDERS) {
  Deno.test({
    name:
      `on ${ep} the decode loop lets I/O run between steps: a row added after a loopback request joins mid-decode`,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      // A server adds rows from its request handlers. If the loop never gave the event loop a
      // turn, a request sent mid-batch would be read only after the batch had ended, and joining
      // would degrade to waves. WASM's forward pass runs on this thread and gives no turn of its
      // own (this test fails there without the loop's yield). onnxruntime-node's `run` gives one
      // turn, which was too few for a server: bench/serve_load_bench.ts with 4 clients saw no
      // request join before the loop yielded on native too.
      const engine = await InferenceEngine.create(await loadModel(STORIES), {
        executionProvider: ep,
      });
      const server = Deno.serve(
        { hostname: "127.0.0.1", port: 0, onListen() {} },
        () => new Response("ok"),
      );
      try {
        const batch = engine.openBatch({ maxJoinDelaySteps: 0 });
        const order: string[] = [];
        const long = drain(batch.add({ prompt: "Once", maxNewTokens: 200, eosTokenIds: [] }))
          .then((r) => (order.push("long"), r));
        // The late row is added once a loopback HTTP round trip completes: socket I/O, as a
        // server's request handler would see it.
        const late = fetch(`http://127.0.0.1:${server.addr.port}/`)
          .then((r) => r.text())
          .then(() => drain(batch.add({ prompt: "Tom", maxNewTokens: 2 })))
          .then(() => order.push("late"));
        await Promise.all([late, long]);
        assertEquals(order, ["late", "long"], "the late row ended while the long row decoded");
        assertEquals(batch.stats.joins, 1, "it joined the running batch");
      } finally {
        await server.shutdown();
        await engine.dispose();
      }
    },
  });
}
