/**
 * The WebGPU AdamW (with global grad-norm clipping) against the oracle's 5-step
 * PyTorch trajectory from the residual-gate case, with each kernel set.
 */
import { assert } from "../_assert.ts";
import { GPT2_TINY, maxAbsDiff, readCases, relL2 } from "../_fixtures.ts";
import { KERNEL_SET_NAMES } from "../../src/gpu/mod.ts";
import { loadModel, SafetensorsFile } from "../../src/model/mod.ts";
import { trainSteps } from "../../src/train/mod.ts";
import { loadCase } from "../prefix/_oracle_case.ts";

interface Trajectory {
  start_case: string;
  hyperparameters: {
    lr: number;
    betas: [number, number];
    eps: number;
    weight_decay: number;
    max_grad_norm: number;
    steps: number;
  };
  losses_before_each_step: number[];
  grad_norms_before_clipping: number[];
  file: string;
}

for (const kernels of KERNEL_SET_NAMES) {
  Deno.test(`trainSteps() (${kernels} kernels) follows PyTorch AdamW with clipping for 5 steps`, async () => {
    const model = await loadModel(`${GPT2_TINY}/model`);
    const cases = await readCases(GPT2_TINY);
    const traj: Trajectory = JSON.parse(
      await Deno.readTextFile(`${GPT2_TINY}/train-residual-gate.json`),
    );
    const start = cases.cases.find((c) => c.name === traj.start_case)!;
    const { pm } = await loadCase(GPT2_TINY, model, start);
    const h = traj.hyperparameters;
    // Clipping must be active on the first steps for this test to check it.
    assert(traj.grad_norms_before_clipping[0] > h.max_grad_norm);
    const { losses, gradNorms, kernelSet } = await trainSteps(model, pm, {
      inputIds: cases.batch.input_ids,
      labels: cases.batch.labels,
      attentionMask: cases.batch.attention_mask,
    }, {
      steps: h.steps,
      lr: h.lr,
      betas: h.betas,
      eps: h.eps,
      weightDecay: h.weight_decay,
      maxGradNorm: h.max_grad_norm,
      kernels,
      backend: "webgpu",
    });
    assert(kernelSet === kernels, `ran ${kernelSet}, asked for ${kernels}`);
    for (let i = 0; i < h.steps; i++) {
      const want = traj.losses_before_each_step[i];
      const rel = Math.abs(losses[i] - want) / want;
      assert(rel < 1e-4, `loss before step ${i}: ${losses[i]} vs ${want} (relative ${rel})`);
      const nrel = Math.abs(gradNorms[i] - traj.grad_norms_before_clipping[i]) /
        traj.grad_norms_before_clipping[i];
      assert(
        nrel < 1e-3,
        `grad norm before step ${i}: ${gradNorms[i]} vs ${traj.grad_norms_before_clipping[i]}`,
      );
    }
    const st = await SafetensorsFile.open(`${GPT2_TINY}/${traj.file}`);
    try {
      for (const name of Object.keys(pm.params)) {
        const want = await st.getFloat32(`final.${name}`);
        const err = relL2(pm.params[name], want);
        assert(err < 1e-3, `final.${name}: relative L2 error ${err.toExponential(2)}`);
      }
      const kv = await st.getFloat32("final.kv");
      const folded = pm.fold().kv;
      const err = relL2(folded, kv);
      assert(err < 1e-3, `final.kv: relative L2 error ${err.toExponential(2)}`);
      assert(maxAbsDiff(folded, kv) < 1e-4, `final.kv: max abs error ${maxAbsDiff(folded, kv)}`);
    } finally {
      st.close();
    }
  });
}
