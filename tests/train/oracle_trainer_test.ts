/**
 * What is particular to the WebGPU PrefixTrainer, checked against the gpt2-tiny oracle: the
 * chunked LM head, and its refusals of batches and configs. The trainer contract every backend
 * keeps (accumulation, evaluation, the AdamW trajectory, optimizer state) is trainer.case.ts.
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
