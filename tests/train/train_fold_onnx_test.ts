/**
 * End to end: train a prefix on WebGPU, fold it, run the ONNX engine with the folded
 * prefix, and get the same logits as the WebGPU forward pass. This ties the trainer's
 * attention over [prefix ; tokens], its positions (real tokens start at P) and the fold
 * to what the serving path feeds ONNX Runtime as past_key_values.
 */
import { assert } from "../_assert.ts";
import { InferenceEngine } from "../../src/infer/mod.ts";
import { loadModel } from "../../src/model/mod.ts";
import { PrefixModule } from "../../src/prefix/mod.ts";
import { PrefixTrainer } from "../../src/train/mod.ts";
import { GPT2_TINY, readCases } from "../_fixtures.ts";

Deno.test("a prefix trained on WebGPU, folded, gives the same logits through ONNX (wasm)", async () => {
  const model = await loadModel(`${GPT2_TINY}/model`);
  const { batch } = await readCases(GPT2_TINY);
  const pm = PrefixModule.init(model.config, {
    prefixLen: 5,
    reparam: "residual",
    gate: true,
    midDim: 32,
    seed: 7,
  });
  const trainer = await PrefixTrainer.create(model, pm, { maxBatch: 2, maxLen: 8 });
  const engine = await InferenceEngine.create(model, { executionProvider: "wasm" });
  try {
    const tb = {
      inputIds: batch.input_ids,
      labels: batch.labels,
      attentionMask: batch.attention_mask,
    };
    for (let i = 0; i < 5; i++) {
      await trainer.accumulate(tb);
      await trainer.step({ lr: 5e-2 });
    }
    await trainer.readParams(); // brings the trained parameters into pm
    const gpu = await trainer.logits({ inputIds: tb.inputIds, attentionMask: tb.attentionMask });
    const prefix = pm.fold();
    const onnx = await engine.logits({
      inputIds: tb.inputIds,
      attentionMask: tb.attentionMask,
      prefixes: [prefix, prefix],
    });
    assert(JSON.stringify(onnx.dims) === JSON.stringify(gpu.dims), `${onnx.dims} vs ${gpu.dims}`);
    const [B, T, V] = gpu.dims;
    let maxDiff = 0, compared = 0;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        if (tb.attentionMask[b][t] !== 1) continue;
        for (let v = 0; v < V; v++) {
          const i = (b * T + t) * V + v;
          maxDiff = Math.max(maxDiff, Math.abs(gpu.data[i] - onnx.data[i]));
          compared++;
        }
      }
    }
    assert(compared === 10 * V, `compared ${compared} logits`);
    assert(maxDiff < 1e-4, `max |WebGPU - ONNX| = ${maxDiff}`);
    // The training moved the prefix: the folded prefix differs from the initial one.
    const init = PrefixModule.init(model.config, {
      prefixLen: 5,
      reparam: "residual",
      gate: true,
      midDim: 32,
      seed: 7,
    }).fold();
    let moved = 0;
    for (let i = 0; i < init.kv.length; i++) {
      moved = Math.max(moved, Math.abs(init.kv[i] - prefix.kv[i]));
    }
    assert(moved > 1e-3, `prefix did not move (${moved})`);
  } finally {
    trainer.destroy();
    await engine.dispose();
  }
});
