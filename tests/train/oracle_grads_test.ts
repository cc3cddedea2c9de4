/**
 * The WebGPU trainer against the PyTorch oracle (gpt2-tiny; llama-tiny with GQA and RoPE;
 * qwen2-tiny's q/k/v biases, qwen3-tiny's q/k norm and head_dim != C / H, llama3-tiny's
 * scaled RoPE and untied head): the loss and every gradient of all six prefix methods to relative L2 error 1e-3, with
 * each kernel set (the hardware set runs here too: slower on a software adapter, and correct).
 */
import { assert, assertAlmostEquals } from "../_assert.ts";
import {
  GPT2_TINY,
  LLAMA3_TINY,
  LLAMA_TINY,
  QWEN2_TINY,
  QWEN3_TINY,
  readCases,
  relL2,
} from "../_fixtures.ts";
import { KERNEL_SET_NAMES } from "../../src/gpu/mod.ts";
import { loadModel } from "../../src/model/mod.ts";
import { lossAndGrads } from "../../src/train/mod.ts";
import { loadCase } from "../prefix/_oracle_case.ts";

for (const fixture of [GPT2_TINY, LLAMA_TINY, QWEN2_TINY, QWEN3_TINY, LLAMA3_TINY]) {
  const family = fixture.split("/").pop();
  const model = await loadModel(`${fixture}/model`);
  const cases = await readCases(fixture);
  const batch = {
    inputIds: cases.batch.input_ids,
    labels: cases.batch.labels,
    attentionMask: cases.batch.attention_mask,
  };

  for (const kernels of KERNEL_SET_NAMES) {
    for (const c of cases.cases) {
      Deno.test(`lossAndGrads (${kernels} kernels) matches the oracle's loss and gradients for ${family} ${c.name}`, async () => {
        const { pm, grads: expected } = await loadCase(fixture, model, c);
        const { loss, grads, kernelSet } = await lossAndGrads(model, pm, batch, {
          backend: "webgpu",
          kernels,
        });
        assert(kernelSet === kernels, `ran ${kernelSet}, asked for ${kernels}`);
        assertAlmostEquals(loss, c.loss, 1e-3 * c.loss, `loss ${loss} vs oracle ${c.loss}`);
        assert(
          Object.keys(grads).sort().join() === Object.keys(expected).sort().join(),
          `gradient names ${Object.keys(grads)} vs ${Object.keys(expected)}`,
        );
        for (const [name, want] of Object.entries(expected)) {
          const err = relL2(grads[name], want);
          assert(
            err < 1e-3,
            `${family} ${c.name}: grad.${name} relative L2 error ${err.toExponential(2)} >= 1e-3`,
          );
        }
      });
    }
  }
}
