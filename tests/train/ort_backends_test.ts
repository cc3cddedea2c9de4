/**
 * The ONNX Runtime training backends (`native`, `wasm`) against the PyTorch oracle: loss and
 * every gradient of all six prefix methods on every oracle family, memorization, and a run
 * whose parameters and AdamW state move between backends mid-way and continue the same losses.
 * The trainer contract they keep with every backend (the AdamW trajectory, accumulation,
 * optimizer state) is trainer.case.ts.
 */
import { assert, assertAlmostEquals, assertEquals } from "../_assert.ts";
import { PrefixEdgeError } from "../../src/errors/mod.ts";
import {
  GPT2_TINY,
  LLAMA3_TINY,
  LLAMA_TINY,
  QWEN2_TINY,
  QWEN3_TINY,
  readCases,
  relL2,
} from "../_fixtures.ts";
import { loadModel } from "../../src/model/mod.ts";
import { PrefixModule, type Reparam } from "../../src/prefix/mod.ts";
import {
  createTrainer,
  lossAndGrads,
  type OptimizerState,
  OrtPrefixTrainer,
  type TokenBatch,
  type TrainingBackend,
  trainingBackendCandidates,
  trainSteps,
} from "../../src/train/mod.ts";
import { loadCase } from "../prefix/_oracle_case.ts";
import { randomGpt2 } from "../gpu/_random_gpt2.ts";

const BACKENDS = ["native", "wasm"] as const;

for (const fixture of [GPT2_TINY, LLAMA_TINY, QWEN2_TINY, QWEN3_TINY, LLAMA3_TINY]) {
  const family = fixture.split("/").pop();
  const model = await loadModel(`${fixture}/model`);
  const cases = await readCases(fixture);
  const batch: TokenBatch = {
    inputIds: cases.batch.input_ids,
    labels: cases.batch.labels,
    attentionMask: cases.batch.attention_mask,
  };
  for (const backend of BACKENDS) {
    Deno.test(`${backend}: lossAndGrads matches the oracle for all six ${family} methods`, async () => {
      for (const c of cases.cases) {
        const { pm, grads: expected } = await loadCase(fixture, model, c);
        const { loss, grads, backend: ran } = await lossAndGrads(model, pm, batch, { backend });
        assertEquals(ran, backend);
        assertAlmostEquals(loss, c.loss, 1e-3 * c.loss, `${c.name}: loss ${loss} vs ${c.loss}`);
        assertEquals(Object.keys(grads).sort(), Object.keys(expected).sort());
        for (const [name, want] of Object.entries(expected)) {
          const err = relL2(grads[name], want);
          assert(err < 1e-3, `${c.name}: grad.${name} relative L2 ${err.toExponential(2)}`);
        }
      }
    });
    // The fixture's rows (6 tokens) are too short for the defaults to cut the attention or the
    // LM head; forced to 4 query blocks (of 2, 1, 2 and 1 rows) and 3 head chunks (its 4 target
    // rows padded to 6), the graph must give the same numbers.
    Deno.test(`${backend}: the attention in 4 query blocks and the LM head in 3 row chunks match the oracle for ${family}`, async () => {
      for (const c of cases.cases.filter((c) => c.name === "residual-gate" || c.name === "none")) {
        const { pm, grads: expected } = await loadCase(fixture, model, c);
        const T = batch.inputIds[0].length;
        const trainer = await OrtPrefixTrainer.create(model, pm, {
          maxBatch: batch.inputIds.length,
          maxLen: T,
          backend,
          threads: 1,
          queryBlocks: 4,
          headChunks: 3,
        });
        try {
          const { lossSum, tokens } = await trainer.accumulate(batch);
          assertAlmostEquals(lossSum / tokens, c.loss, 1e-3 * c.loss, `${c.name}: loss`);
          const grads = await trainer.readGrads();
          for (const [name, want] of Object.entries(expected)) {
            const err = relL2(grads[name], want);
            assert(err < 1e-3, `${c.name}: grad.${name} relative L2 ${err.toExponential(2)}`);
          }
        } finally {
          trainer.destroy();
        }
      }
    });
  }
}

// Memorization: as tests/train/memorize_test.ts, on the ONNX Runtime backends.
const randomModel = await randomGpt2({
  layers: 2,
  embd: 48,
  heads: 4,
  vocab: 97,
  positions: 64,
  std: 0.2,
  wteStd: 0.5,
  seed: 3,
});
const memorize: TokenBatch = {
  inputIds: [[5, 17, 42, 9, 88, 3, 61, 23, 70], [33, 2, 90, 14, 56, 8, 0, 0, 0]],
  labels: [
    [-100, -100, 42, 9, 88, 3, 61, 23, 70],
    [-100, 2, 90, 14, 56, 8, -100, -100, -100],
  ],
  attentionMask: [[1, 1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 0, 0, 0]],
};
for (const backend of BACKENDS) {
  Deno.test(`${backend}: 30 steps on one batch cut the loss below 15% of its start, all six methods`, async () => {
    for (const reparam of ["none", "mlp", "residual"] as Reparam[]) {
      for (const gate of [false, true]) {
        const name = `${reparam}${gate ? "-gate" : ""}`;
        const pm = PrefixModule.init(randomModel.config, {
          prefixLen: 4,
          reparam,
          gate,
          midDim: 32,
          seed: 1,
        });
        const { losses } = await trainSteps(randomModel, pm, memorize, {
          steps: 30,
          lr: 0.1,
          weightDecay: 0,
          backend,
        });
        const first = losses[0], last = losses.at(-1)!;
        assert(last < 0.15 * first, `${name}: loss went from ${first} to ${last}`);
      }
    }
  });
}

for (const backend of BACKENDS) {
  Deno.test(`${backend}: a micro-batch without targets adds loss 0 and no gradient`, async () => {
    // The head runs on the target rows only (Compress); with none, it works on zero rows.
    const pm = PrefixModule.init(randomModel.config, { prefixLen: 4, reparam: "residual" });
    const promptOnly: TokenBatch = {
      ...memorize,
      labels: memorize.labels!.map((r) => r.map(() => -100)),
    };
    const alone = await lossAndGrads(randomModel, pm, memorize, { backend });
    // One head chunk (the default here), and three: then all of them are padding rows.
    for (const headChunks of [1, 3]) {
      const limits = { maxBatch: 2, maxLen: 9, backend, headChunks };
      const trainer = await OrtPrefixTrainer.create(randomModel, pm, limits);
      try {
        const empty = await trainer.accumulate(promptOnly);
        const got = [Object.is(empty.lossSum, 0), empty.tokens];
        assertEquals(got, [true, 0], `${headChunks} chunks: got ${empty.lossSum}`);
        await trainer.accumulate(memorize);
        const both = await trainer.readGrads();
        for (const [name, want] of Object.entries(alone.grads)) {
          const err = relL2(both[name], want);
          assert(
            err < 1e-6,
            `${headChunks} chunks: grad.${name}: relative L2 ${err.toExponential(2)}`,
          );
        }
      } finally {
        trainer.destroy();
      }
    }
  });
}

/** Run `steps` steps on `backend`, starting from the given parameters and AdamW state. */
async function stepsOn(
  backend: TrainingBackend,
  pm: PrefixModule,
  steps: number,
  state?: OptimizerState,
) {
  const { trainer } = await createTrainer(randomModel, pm, { maxBatch: 2, maxLen: 9, backend });
  try {
    if (state) await trainer.loadOptimizerState(state);
    const losses: number[] = [];
    for (let i = 0; i < steps; i++) {
      const { lossSum, tokens } = await trainer.accumulate(memorize);
      losses.push(lossSum / tokens);
      await trainer.step({ lr: 0.02, maxGradNorm: 0.5 });
    }
    const params = await trainer.readParams();
    return { losses, params, state: await trainer.readOptimizerState() };
  } finally {
    trainer.destroy();
  }
}

for (const [from, to] of [["webgpu", "native"], ["native", "wasm"]] as const) {
  Deno.test(`parameters and AdamW state written on ${from} continue on ${to} with the same losses`, async () => {
    const init = () =>
      PrefixModule.init(randomModel.config, { prefixLen: 4, reparam: "residual", midDim: 32 });
    const straight = await stepsOn(from, init(), 6);
    const first = await stepsOn(from, init(), 3);
    const resumed = PrefixModule.fromParams(randomModel.config, {
      prefixLen: 4,
      reparam: "residual",
      gate: true,
      midDim: 32,
      params: first.params,
    });
    const second = await stepsOn(to, resumed, 3, first.state);
    assertEquals(second.state.step, 6);
    const losses = [...first.losses, ...second.losses];
    for (let i = 0; i < 6; i++) {
      const rel = Math.abs(losses[i] - straight.losses[i]) / straight.losses[i];
      assert(rel < 1e-4, `loss ${i}: ${losses[i]} vs ${straight.losses[i]} (relative ${rel})`);
    }
  });
}

Deno.test("the default backend: webgpu on a hardware GPU, else native, else wasm, else software WebGPU", async () => {
  const order = async (probe: { available: boolean; hardware: boolean; description: string }) =>
    (await trainingBackendCandidates("auto", probe)).map((c) => c.backend);
  assertEquals(await order({ available: true, hardware: true, description: "NVIDIA" }), [
    "webgpu",
    "native",
    "wasm",
  ]);
  assertEquals(await order({ available: true, hardware: false, description: "llvmpipe" }), [
    "native",
    "wasm",
    "webgpu",
  ]);
  assertEquals(await order({ available: false, hardware: false, description: "no adapter" }), [
    "native",
    "wasm",
  ]);
  const [only] = await trainingBackendCandidates("wasm");
  assertEquals(only, { backend: "wasm", reason: "requested" });
  const err = await trainingBackendCandidates("cuda").catch((e) => e);
  assert(err instanceof PrefixEdgeError && err.code === "INVALID_INPUT", String(err));
  assert(err.message.includes("choose auto, webgpu, native or wasm"), err.message);
});
