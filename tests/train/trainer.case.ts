/**
 * The trainer contract's shared suite (src/train/trainer.ts): every backend runs it, and a
 * trainer that breaks the contract fails it. On the gpt2-tiny oracle (residual + gate):
 * - `accumulate` gives the oracle's loss and `readGrads` its gradients (where the backend
 *   computes the real model; the CPU fake computes its own loss and skips these);
 * - micro-batches of any shapes accumulate the gradient of the whole batch;
 * - `evaluate` gives the same loss and accumulates nothing;
 * - five AdamW steps with clipping follow PyTorch's trajectory (losses, gradient norms, and the
 *   final parameters);
 * - a trainer rebuilt from parameters and optimizer state continues the same trajectory;
 * - bad steps and use after `destroy` are refused with `INVALID_INPUT`.
 */
import { PrefixEdgeError } from "../../src/errors/mod.ts";
import { loadModel, SafetensorsFile } from "../../src/model/mod.ts";
import { PrefixModule } from "../../src/prefix/mod.ts";
import type { TokenBatch, Trainer, TrainerFactory } from "../../src/train/mod.ts";
import { assert, assertAlmostEquals, assertEquals, assertRejects } from "../_assert.ts";
import { GPT2_TINY, readCases, relL2 } from "../_fixtures.ts";
import { loadCase } from "../prefix/_oracle_case.ts";

/** A backend under test. */
export interface TrainerUnderTest {
  /** Its name in test names. */
  name: string;
  /** Builds its trainer. */
  factory: TrainerFactory;
  /** Whether it computes the real model (so the oracle's numbers apply). */
  oracle: boolean;
  /** Relative L2 bound on the final parameters of the 5-step trajectory. */
  trajectoryTolerance?: number;
  /** Skip the suite (the backend is missing here). */
  ignore?: boolean;
}

const model = await loadModel(`${GPT2_TINY}/model`);
const cases = await readCases(GPT2_TINY);
const batch: TokenBatch = {
  inputIds: cases.batch.input_ids,
  labels: cases.batch.labels,
  attentionMask: cases.batch.attention_mask,
};
const residualGate = cases.cases.find((c) => c.name === "residual-gate")!;
const SIZE = { maxBatch: 2, maxLen: 6 };

function invalidInput(e: unknown) {
  assert(e instanceof PrefixEdgeError, `expected a PrefixEdgeError, got ${e}`);
  assertEquals(e.code, "INVALID_INPUT", e.message);
}

async function withTrainer(
  t: TrainerUnderTest,
  pm: PrefixModule,
  fn: (trainer: Trainer) => Promise<void>,
): Promise<void> {
  const trainer = await t.factory(model, pm, SIZE);
  try {
    await fn(trainer);
  } finally {
    trainer.destroy();
  }
}

/**
 * Register the suite's tests for one backend.
 *
 * @param t the backend
 */
export function trainerSuite(t: TrainerUnderTest): void {
  const test = (name: string, fn: () => Promise<void>) =>
    Deno.test({ name: `${t.name}: ${name}`, ignore: t.ignore, sanitizeResources: false, fn });

  if (t.oracle) {
    test("accumulate gives the oracle's loss, and readGrads its gradients", async () => {
      const { pm, grads: want } = await loadCase(GPT2_TINY, model, residualGate);
      await withTrainer(t, pm, async (trainer) => {
        const { lossSum, tokens } = await trainer.accumulate(batch);
        assertEquals(tokens, 4);
        assertAlmostEquals(lossSum / tokens, residualGate.loss, 1e-3 * residualGate.loss);
        const got = await trainer.readGrads();
        for (const [name, w] of Object.entries(want)) {
          const err = relL2(got[name], w);
          assert(err < 1e-3, `grad.${name}: relative L2 ${err.toExponential(2)}`);
        }
      });
    });

    test("five AdamW steps with clipping follow PyTorch's trajectory", async () => {
      const traj = JSON.parse(await Deno.readTextFile(`${GPT2_TINY}/train-residual-gate.json`));
      const { pm } = await loadCase(
        GPT2_TINY,
        model,
        cases.cases.find((c) => c.name === traj.start_case)!,
      );
      const h = traj.hyperparameters;
      await withTrainer(t, pm, async (trainer) => {
        for (let i = 0; i < h.steps; i++) {
          const { lossSum, tokens } = await trainer.accumulate(batch);
          const want = traj.losses_before_each_step[i];
          assertAlmostEquals(lossSum / tokens, want, 1e-4 * want, `loss before step ${i}`);
          const { gradNorm } = await trainer.step({
            lr: h.lr,
            betas: h.betas,
            eps: h.eps,
            weightDecay: h.weight_decay,
            maxGradNorm: h.max_grad_norm,
          });
          const norm = traj.grad_norms_before_clipping[i];
          assertAlmostEquals(gradNorm, norm, 1e-3 * norm, `grad norm before step ${i}`);
        }
        assert(traj.grad_norms_before_clipping[0] > h.max_grad_norm, "clipping is exercised");
        const params = await trainer.readParams();
        const st = await SafetensorsFile.open(`${GPT2_TINY}/${traj.file}`);
        try {
          for (const name of Object.keys(params)) {
            const err = relL2(params[name], await st.getFloat32(`final.${name}`));
            const bound = t.trajectoryTolerance ?? 1e-5;
            assert(err < bound, `final.${name}: relative L2 ${err.toExponential(2)}`);
          }
        } finally {
          st.close();
        }
      });
    });
  }

  test("micro-batches of any shapes accumulate the whole batch's gradient; evaluate adds none", async () => {
    const { pm } = await loadCase(GPT2_TINY, model, residualGate);
    await withTrainer(t, pm, async (trainer) => {
      const whole = await trainer.accumulate(batch);
      const expected = await trainer.readGrads();
      await trainer.step({ lr: 0 }); // clears the gradient; lr 0 keeps the parameters
      const evaluated = await trainer.evaluate(batch);
      assertAlmostEquals(evaluated.lossSum, whole.lossSum, 1e-5 * Math.abs(whole.lossSum));
      const a = await trainer.accumulate({
        inputIds: [batch.inputIds[0]],
        labels: [batch.labels[0]],
        attentionMask: [batch.attentionMask![0]],
      });
      await trainer.evaluate(batch); // must not add to the gradient
      // A shorter second micro-batch: the padding columns cut off.
      const b = await trainer.accumulate({
        inputIds: [batch.inputIds[1].slice(0, 4)],
        labels: [batch.labels[1].slice(0, 4)],
      });
      assertEquals(a.tokens + b.tokens, whole.tokens);
      const got = await trainer.readGrads();
      for (const [name, want] of Object.entries(expected)) {
        const err = relL2(got[name], want);
        assert(err < 1e-4, `grad.${name}: relative L2 ${err.toExponential(2)}`);
      }
    });
  });

  test("a trainer rebuilt from parameters and optimizer state continues the same trajectory", async () => {
    const opt = { lr: 0.01, maxGradNorm: 0.15 };
    const { pm } = await loadCase(GPT2_TINY, model, residualGate);
    let state!: Awaited<ReturnType<Trainer["readOptimizerState"]>>;
    let params!: Record<string, Float32Array>;
    let next = 0;
    await withTrainer(t, pm, async (a) => {
      for (let i = 0; i < 2; i++) {
        await a.accumulate(batch);
        await a.step(opt);
      }
      state = await a.readOptimizerState();
      params = structuredClone(await a.readParams());
      await a.accumulate(batch);
      await a.step(opt);
      next = (await a.evaluate(batch)).lossSum;
    });
    assertEquals(state.step, 2);
    const pm2 = PrefixModule.fromParams(model.config, { ...pm.options, params });
    await withTrainer(t, pm2, async (b) => {
      await b.loadOptimizerState(state);
      await b.accumulate(batch);
      await b.step(opt);
      assertEquals((await b.readOptimizerState()).step, 3);
      assertAlmostEquals((await b.evaluate(batch)).lossSum, next, 1e-5 * Math.abs(next));
    });
  });

  test("a step without tokens, a bad rate and use after destroy are refused", async () => {
    const { pm } = await loadCase(GPT2_TINY, model, residualGate);
    const trainer = await t.factory(model, pm, SIZE);
    await assertRejects(async () => await trainer.step({ lr: 0.1 }), invalidInput);
    await trainer.accumulate(batch);
    await assertRejects(async () => await trainer.step({ lr: NaN }), invalidInput);
    await assertRejects(async () => await trainer.step({ lr: -1 }), invalidInput);
    trainer.destroy();
    await assertRejects(async () => await trainer.accumulate(batch), invalidInput);
  });
}
