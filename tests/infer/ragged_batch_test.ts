/**
 * Ragged batches: stories260K (8 query heads over 4 key/value heads) exported with `--optimize`
 * attends with ORT's GroupQueryAttention over each row's own length (`RaggedLayout`). A batch
 * that mixes prompt lengths, prefix lengths and rows that join while it decodes must give each
 * row the logits it gets alone from the plain graph, which tests/onnx holds to PyTorch.
 */
import { assert, assertEquals } from "../_assert.ts";
import { maxAbsDiff, STORIES } from "../_fixtures.ts";
import { PROVIDERS, randomPrefix } from "./_engines.ts";
import { InferenceEngine } from "../../src/infer/mod.ts";
import { type LoadedModel, loadModel, type Prefix, prefixWidth } from "../../src/model/mod.ts";
import { exportOnnx } from "../../src/onnx/mod.ts";

const TOL = 1e-4;

/** stories260K with an `--optimize` graph of its own, in a temporary folder. */
async function optimizedStories(): Promise<{ model: LoadedModel; graph: Uint8Array }> {
  const dir = await Deno.makeTempDir();
  for (const f of ["config.json", "model.safetensors", "tokenizer.json"]) {
    await Deno.copyFile(`${STORIES}/${f}`, `${dir}/${f}`);
  }
  const r = await exportOnnx(dir, { out: `${dir}/onnx/model.onnx`, optimize: true });
  assertEquals(r.record.options.fusedOps, ["GroupQueryAttention"]);
  return { model: await loadModel(STORIES), graph: await Deno.readFile(r.onnxPath) };
}

const { model, graph } = await optimizedStories();
const S = prefixWidth(model.config);
const prefixes: (Prefix | null)[] = [randomPrefix(S, 3, 1), null, randomPrefix(S, 6, 2)];

for (const { ep, ignore } of PROVIDERS) {
  const engines = async () => ({
    plain: await InferenceEngine.create(model, { executionProvider: ep }),
    ragged: await InferenceEngine.create(model, { executionProvider: ep, onnx: graph }),
  });

  Deno.test({
    name: `${ep}: a ragged batch's logits equal each row run alone (prompts, prefixes, padding)`,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const { plain, ragged } = await engines();
      try {
        // Row 0 right-padded, row 1 left-padded, row 2 full; three prefix lengths (3, 0, 6).
        const inputIds = [[1, 403, 88, 0, 0], [0, 1, 271, 30, 9], [1, 50, 61, 72, 83]];
        const attentionMask = [[1, 1, 1, 0, 0], [0, 1, 1, 1, 1], [1, 1, 1, 1, 1]];
        const batch = await ragged.logits({ inputIds, attentionMask, prefixes });
        const V = model.config.vocabSize;
        for (let b = 0; b < 3; b++) {
          const real = inputIds[b].filter((_, j) => attentionMask[b][j] === 1);
          const alone = await plain.logits({ inputIds: [real], prefixes: [prefixes[b]] });
          let k = 0;
          for (let j = 0; j < 5; j++) {
            if (attentionMask[b][j] === 0) continue;
            const got = batch.data.subarray((b * 5 + j) * V, (b * 5 + j + 1) * V);
            const want = alone.data.subarray(k * V, ++k * V);
            const err = maxAbsDiff(got, want);
            assert(err <= TOL, `row ${b} column ${j}: max |diff| ${err}`);
          }
        }
      } finally {
        await plain.dispose();
        await ragged.dispose();
      }
    },
  });

  Deno.test({
    name: `${ep}: rows that join a ragged batch decode as each row alone, token and logits`,
    // Software WebGPU takes minutes here; the logits test above covers the graph on it.
    ignore: ignore || ep === "webgpu",
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const { plain, ragged } = await engines();
      const rows = [
        { prompt: "Once upon a time, there was a little", prefix: prefixes[0] },
        { prompt: "Lily", prefix: prefixes[1] },
        { prompt: "The dog and the cat went to the park to", prefix: prefixes[2] },
      ].map((r) => ({ ...r, maxNewTokens: 12 }));
      /** Decode `rows`, row i added at boundary `joinAt[i]`; each row's tokens and logits. */
      const decode = async (engine: InferenceEngine, list: typeof rows, joinAt: number[]) => {
        const logits = new Map<unknown, Float32Array[]>();
        const streams: ReturnType<InferenceEngine["generate"]>[] = [];
        const add = (i: number) => {
          streams[i] = batch.add(list[i]);
          logits.set(streams[i], []);
        };
        const batch = engine.openBatch({
          maxJoinDelaySteps: 0,
          onLogits: (row, _i, l) => logits.get(row)!.push(l),
          onStep: (step) => list.forEach((_, i) => joinAt[i] === step.index && add(i)),
        });
        add(0);
        const results = [];
        for (let i = 0; i < list.length; i++) {
          while (!streams[i]) await new Promise((r) => setTimeout(r, 1));
          const tokens = (await streams[i].result).tokenIds;
          results.push({ tokens, logits: logits.get(streams[i])! });
        }
        return { results, stats: batch.stats };
      };
      try {
        // Row 0 starts the batch; rows 1 and 2 join it at later boundaries.
        const together = await decode(ragged, rows, [0, 3, 6]);
        assert(together.stats.joins >= 2, `rows joined ${together.stats.joins} times`);
        for (let i = 0; i < rows.length; i++) {
          const alone = (await decode(plain, [rows[i]], [0])).results[0];
          const got = together.results[i];
          assertEquals(got.tokens, alone.tokens, `row ${i}'s tokens`);
          got.logits.forEach((l, t) => {
            const err = maxAbsDiff(l, alone.logits[t]);
            assert(err <= TOL, `row ${i} token ${t}: max |diff| ${err}`);
          });
        }
      } finally {
        await plain.dispose();
        await ragged.dispose();
      }
    },
  });
}

for (const { ep, ignore } of PROVIDERS.filter((p) => p.ep !== "webgpu")) {
  Deno.test({
    name: `${ep}: beam search on a ragged graph gives the plain graph's tokens`,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const plain = await InferenceEngine.create(model, { executionProvider: ep });
      const ragged = await InferenceEngine.create(model, { executionProvider: ep, onnx: graph });
      try {
        const opts = {
          prompt: "Once upon a time",
          prefix: prefixes[2],
          numBeams: 3,
          maxNewTokens: 10,
        };
        const [a, b] = [await plain.generate(opts).result, await ragged.generate(opts).result];
        assertEquals(b.tokenIds, a.tokenIds);
        assert(a.tokenIds.length > 0);
      } finally {
        await plain.dispose();
        await ragged.dispose();
      }
    },
  });
}

for (const { ep, ignore } of PROVIDERS.filter((p) => p.ep !== "webgpu")) {
  Deno.test({
    name: `${ep}: drafts from the prompt on a ragged graph give the plain graph's tokens`,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const plain = await InferenceEngine.create(model, { executionProvider: ep, draftTokens: 0 });
      try {
        for (const prefix of [null, prefixes[2]]) {
          const opts = { prompt: "Lily and Tom were", prefix, maxNewTokens: 100, eosTokenIds: [] };
          const want = await plain.generate(opts).result;
          // A fresh engine: its first draft passes are checked whatever the timings say
          // (DraftPayoff), so what is accepted does not depend on how busy the machine is.
          const ragged = await InferenceEngine.create(model, {
            executionProvider: ep,
            onnx: graph,
          });
          try {
            const batch = ragged.openBatch();
            const got = await batch.add(opts).result;
            assertEquals(got.tokenIds, want.tokenIds);
            const { decodeSteps, acceptedDraftTokens } = batch.stats;
            assert(acceptedDraftTokens > 0, "no draft token was accepted");
            assertEquals(decodeSteps + acceptedDraftTokens, want.tokenIds.length - 1);
          } finally {
            await ragged.dispose();
          }
        }
      } finally {
        await plain.dispose();
      }
    },
  });
}
