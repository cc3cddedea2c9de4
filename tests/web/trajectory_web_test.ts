/**
 * Five AdamW steps with clipping in headless Chromium follow PyTorch's trajectory (gpt2-tiny,
 * residual + gate): the loss before each step, the gradient norm before clipping, and the final
 * parameters, on WebGPU with the software set, the hardware set, the hardware set with subgroup
 * reductions (the only place `adamw_update_subgroups.wgsl` runs: an optimizer step), and on
 * onnxruntime-web's WASM.
 */
import { assert, assertAlmostEquals } from "../_assert.ts";
import { GPT2_TINY, relL2 } from "../_fixtures.ts";
import { SafetensorsFile } from "../../src/model/mod.ts";
import { type WebSdk, webTest } from "./_browser.ts";

const CONFIGS = [
  { label: "webgpu, software kernels", backend: "webgpu", kernels: "software", subgroups: false },
  { label: "webgpu, hardware kernels", backend: "webgpu", kernels: "hardware", subgroups: false },
  {
    label: "webgpu, hardware kernels with subgroups",
    backend: "webgpu",
    kernels: "hardware",
    subgroups: true,
  },
  { label: "wasm", backend: "wasm", kernels: "software", subgroups: false },
] as const;

/** The page's side: the oracle's starting case, then the trajectory's steps on one backend. */
const pageTrajectory = async (
  a: { backend: "webgpu" | "wasm"; kernels: "software" | "hardware"; subgroups: boolean },
) => {
  const sdk = (globalThis as unknown as { sdk: WebSdk }).sdk;
  sdk.setKernelDefaults({ subgroups: a.subgroups });
  const base = new URL("/tests/fixtures/gpt2-tiny/", location.href);
  const json = async (rel: string) => await (await fetch(new URL(rel, base))).json();
  const model = await sdk.loadModel(new URL("model/", base));
  const oracle = await json("cases.json");
  const traj = await json("train-residual-gate.json");
  const start = oracle.cases.find((c: { name: string }) => c.name === traj.start_case);
  const bytes = new Uint8Array(await (await fetch(new URL(start.file, base))).arrayBuffer());
  const st = await sdk.SafetensorsFile.fromBytes(bytes);
  const params: Record<string, Float32Array> = {};
  for (const name of sdk.PARAM_NAMES) {
    if (st.tensors.has(`param.${name}`)) params[name] = await st.getFloat32(`param.${name}`);
  }
  const pm = sdk.PrefixModule.fromParams(model.config, {
    prefixLen: start.prefix_len,
    reparam: start.reparam,
    gate: start.gate,
    midDim: start.mid_dim,
    params,
  });
  const { trainer, backend } = await sdk.createTrainer(model, pm, {
    maxBatch: 2,
    maxLen: 6,
    backend: a.backend,
    ...(a.backend === "webgpu" ? { kernels: a.kernels } : {}),
  });
  const batch = {
    inputIds: oracle.batch.input_ids,
    labels: oracle.batch.labels,
    attentionMask: oracle.batch.attention_mask,
  };
  const h = traj.hyperparameters;
  const losses: number[] = [], norms: number[] = [];
  try {
    for (let i = 0; i < h.steps; i++) {
      const { lossSum, tokens } = await trainer.accumulate(batch);
      losses.push(lossSum / tokens);
      const { gradNorm } = await trainer.step({
        lr: h.lr,
        betas: h.betas,
        eps: h.eps,
        weightDecay: h.weight_decay,
        maxGradNorm: h.max_grad_norm,
      });
      norms.push(gradNorm);
    }
    const final = await trainer.readParams();
    return {
      backend,
      kernelSet: (trainer as { kernelSet?: string }).kernelSet ?? null,
      losses,
      norms,
      final: Object.fromEntries(Object.entries(final).map(([k, v]) => [k, Array.from(v)])),
    };
  } finally {
    trainer.destroy();
    sdk.setKernelDefaults({});
  }
};

webTest(
  "in Chromium, five AdamW steps follow PyTorch's trajectory on every backend",
  async (t, web) => {
    const traj = JSON.parse(await Deno.readTextFile(`${GPT2_TINY}/train-residual-gate.json`));
    for (const cfg of CONFIGS) {
      await t.step({
        name: cfg.label,
        sanitizeOps: false,
        sanitizeResources: false,
        async fn() {
          web.takeRequests();
          const got = await web.page.evaluate(pageTrajectory, cfg);
          assert(got.backend === cfg.backend, `ran on ${got.backend}`);
          if (cfg.backend === "webgpu") assert(got.kernelSet === cfg.kernels, `${got.kernelSet}`);
          for (let i = 0; i < traj.hyperparameters.steps; i++) {
            const want = traj.losses_before_each_step[i];
            assertAlmostEquals(got.losses[i], want, 1e-4 * want, `loss before step ${i}`);
            const norm = traj.grad_norms_before_clipping[i];
            assertAlmostEquals(got.norms[i], norm, 1e-3 * norm, `grad norm before step ${i}`);
          }
          // float32 on a GPU over five steps (as in Deno's suite); the ORT backends hold 1e-5.
          const bound = cfg.backend === "webgpu" ? 1e-3 : 1e-5;
          const st = await SafetensorsFile.open(`${GPT2_TINY}/${traj.file}`);
          try {
            for (const [name, value] of Object.entries(got.final)) {
              const err = relL2(Float32Array.from(value), await st.getFloat32(`final.${name}`));
              assert(err < bound, `final.${name}: relative L2 ${err.toExponential(2)}`);
            }
          } finally {
            st.close();
          }
          if (cfg.subgroups) {
            const fetched = web.takeRequests().filter((u) => u.endsWith("_subgroups.wgsl"));
            assert(
              fetched.some((u) => u.endsWith("adamw_update_subgroups.wgsl")),
              `the optimizer step's subgroup kernel ran: ${fetched.join(", ")}`,
            );
          }
        },
      });
    }
  },
);
