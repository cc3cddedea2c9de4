/**
 * PrefixTrainer's contract, checked against the gpt2-tiny oracle: vocabulary chunking,
 * gradient accumulation over micro-batches, evaluation, optimizer state I/O, and errors.
 */
import { assert, assertAlmostEquals, assertEquals, assertRejects } from "../_assert.ts";
import { GPT2_TINY, LLAMA_TINY, readCases, relL2 } from "../_fixtures.ts";
import { PrefixEdgeError } from "../../src/errors/mod.ts";
import { loadModel, parseConfig } from "../../src/model/mod.ts";
import { PrefixModule } from "../../src/prefix/mod.ts";
import { PrefixTrainer, type TokenBatch } from "../../src/train/mod.ts";
import { loadCase } from "../prefix/_oracle_case.ts";

const model = await loadModel(`${GPT2_TINY}/model`);
const cases = await readCases(GPT2_TINY);
const batch: TokenBatch = {
  inputIds: cases.batch.input_ids,
  labels: cases.batch.labels,
  attentionMask: cases.batch.attention_mask,
};
const residualGate = cases.cases.find((c) => c.name === "residual-gate")!;

function assertGrads(got: Record<string, Float32Array>, want: Record<string, Float32Array>) {
  for (const [name, w] of Object.entries(want)) {
    const err = relL2(got[name], w);
    assert(err < 1e-3, `grad.${name}: relative L2 error ${err.toExponential(2)}`);
  }
}

function code(c: string) {
  return (e: unknown) => {
    assert(e instanceof PrefixEdgeError, `expected a PrefixEdgeError, got ${e}`);
    assertEquals(e.code, c, e.message);
    assert(e.message.startsWith("Cannot "), e.message);
  };
}

for (const keepLogits of [false, true]) {
  Deno.test(`a chunked LM head (6 vocabulary chunks, ${keepLogits ? "kept" : "recomputed"} logits) matches the oracle`, async () => {
    const { pm, grads: want } = await loadCase(GPT2_TINY, model, residualGate);
    const trainer = await PrefixTrainer.create(model, pm, {
      maxBatch: 2,
      maxLen: 6,
      vocabChunk: 192,
      keepLogits,
    });
    try {
      assertEquals(trainer.vocabChunks, { chunkCols: 192, numChunks: 6, keepLogits });
      const { lossSum, tokens } = await trainer.accumulate(batch);
      assertEquals(tokens, 4);
      assertAlmostEquals(lossSum / tokens, residualGate.loss, 1e-3 * residualGate.loss);
      assertGrads(await trainer.readGrads(), want);
    } finally {
      trainer.destroy();
    }
  });
}

Deno.test("accumulate() over two micro-batches gives the gradient of the mean over all their tokens", async () => {
  const { pm, grads: want } = await loadCase(GPT2_TINY, model, residualGate);
  const trainer = await PrefixTrainer.create(model, pm, { maxBatch: 2, maxLen: 6 });
  try {
    const a = await trainer.accumulate({
      inputIds: [batch.inputIds[0]],
      labels: [batch.labels[0]],
      attentionMask: [batch.attentionMask![0]],
    });
    // A shorter second micro-batch (the padding columns cut off) with other shapes.
    const b = await trainer.accumulate({
      inputIds: [batch.inputIds[1].slice(0, 4)],
      labels: [batch.labels[1].slice(0, 4)],
    });
    assertEquals([a.tokens, b.tokens, trainer.pendingTokens], [3, 1, 4]);
    assertAlmostEquals((a.lossSum + b.lossSum) / 4, residualGate.loss, 1e-3 * residualGate.loss);
    assertGrads(await trainer.readGrads(), want);
  } finally {
    trainer.destroy();
  }
});

Deno.test("evaluate() gives the oracle loss and accumulates no gradient", async () => {
  const { pm } = await loadCase(GPT2_TINY, model, residualGate);
  const trainer = await PrefixTrainer.create(model, pm, { maxBatch: 2, maxLen: 6 });
  try {
    const { lossSum, tokens } = await trainer.evaluate(batch);
    assertAlmostEquals(lossSum / tokens, residualGate.loss, 1e-3 * residualGate.loss);
    assertEquals(trainer.pendingTokens, 0);
    await assertRejects(() => trainer.step({ lr: 0.1 }), code("INVALID_INPUT"));
  } finally {
    trainer.destroy();
  }
});

Deno.test("a resumed trainer (params + optimizer state) continues the same trajectory", async () => {
  const opt = { lr: 0.01, maxGradNorm: 0.15 };
  const { pm } = await loadCase(GPT2_TINY, model, residualGate);
  const a = await PrefixTrainer.create(model, pm, { maxBatch: 2, maxLen: 6 });
  let state, params: Record<string, Float32Array>, next: number;
  try {
    for (let i = 0; i < 2; i++) {
      await a.accumulate(batch);
      await a.step(opt);
    }
    state = await a.readOptimizerState();
    params = structuredClone(await a.readParams());
    await a.accumulate(batch);
    await a.step(opt);
    next = (await a.evaluate(batch)).lossSum;
  } finally {
    a.destroy();
  }
  assertEquals(state.step, 2);
  const pm2 = PrefixModule.fromParams(model.config, { ...pm.options, params });
  const b = await PrefixTrainer.create(model, pm2, { maxBatch: 2, maxLen: 6 });
  try {
    await b.loadOptimizerState(state);
    await b.accumulate(batch);
    await b.step(opt);
    assertEquals(b.stepCount, 3);
    const resumed = (await b.evaluate(batch)).lossSum;
    assertAlmostEquals(resumed, next, 1e-5 * Math.abs(next));
  } finally {
    b.destroy();
  }
});

Deno.test("PrefixTrainer refuses bad batches, an empty step and a config it cannot train with typed errors", async () => {
  const { pm } = await loadCase(GPT2_TINY, model, residualGate);
  const trainer = await PrefixTrainer.create(model, pm, { maxBatch: 2, maxLen: 6 });
  try {
    await assertRejects(
      () => trainer.accumulate({ inputIds: [[1, 2, 3], [1, 2]], labels: [[1, 2, 3], [1, 2]] }),
      code("INVALID_INPUT"),
    );
    await assertRejects(
      () => trainer.accumulate({ inputIds: [[1, 5000]], labels: [[-100, 1]] }),
      code("TOKEN_OUT_OF_RANGE"),
    );
    await assertRejects(
      () =>
        trainer.accumulate({ inputIds: [[1, 2, 3, 4, 5, 6, 7]], labels: [[1, 2, 3, 4, 5, 6, 7]] }),
      code("INVALID_INPUT"),
    );
    await assertRejects(() => trainer.step({ lr: 0.1 }), code("INVALID_INPUT"));
  } finally {
    trainer.destroy();
  }
  await assertRejects(
    () => PrefixTrainer.create(model, pm, { maxBatch: 1, maxLen: 126 }),
    code("CONTEXT_OVERFLOW"),
  );
  // A Llama whose config asks for RoPE scaling, which the training graph does not implement.
  const llama = await loadModel(`${LLAMA_TINY}/model`);
  const scaled = {
    ...llama,
    config: parseConfig({ ...llama.config.raw, rope_scaling: { rope_type: "yarn", factor: 2 } }),
  };
  const lpm = PrefixModule.init(scaled.config, { prefixLen: 2, reparam: "none", gate: false });
  await assertRejects(
    () => PrefixTrainer.create(scaled, lpm, { maxBatch: 1, maxLen: 4 }),
    (e) => {
      code("UNSUPPORTED_MODEL")(e);
      assert((e as Error).message.includes('"rope_scaling"'), (e as Error).message);
    },
  );
});
