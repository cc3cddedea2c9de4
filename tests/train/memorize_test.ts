/**
 * The prefix can memorize: 30 AdamW steps on one fixed small batch cut the loss sharply,
 * for every method. The base is a random GPT-2 built in memory with larger weights than the
 * oracle's N(0, 0.02) (with those, no prefix can move the logits far enough to memorize).
 */
import { assert } from "../_assert.ts";
import { PrefixModule, type Reparam } from "../../src/prefix/mod.ts";
import { trainSteps } from "../../src/train/mod.ts";
import { randomGpt2 } from "../gpu/_random_gpt2.ts";

const model = await randomGpt2({
  layers: 2,
  embd: 48,
  heads: 4,
  vocab: 97,
  positions: 64,
  std: 0.2,
  wteStd: 0.5,
  seed: 3,
});
const batch = {
  inputIds: [[5, 17, 42, 9, 88, 3, 61, 23, 70], [33, 2, 90, 14, 56, 8, 0, 0, 0]],
  labels: [
    [-100, -100, 42, 9, 88, 3, 61, 23, 70],
    [-100, 2, 90, 14, 56, 8, -100, -100, -100],
  ],
  attentionMask: [[1, 1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 0, 0, 0]],
};

for (const reparam of ["none", "mlp", "residual"] as Reparam[]) {
  for (const gate of [false, true]) {
    const name = `${reparam}${gate ? "-gate" : ""}`;
    Deno.test(`30 steps on one batch cut the loss below 15% of its start for ${name}`, async () => {
      const pm = PrefixModule.init(model.config, {
        prefixLen: 4,
        reparam,
        gate,
        midDim: 32,
        seed: 1,
      });
      const before = Float32Array.from(pm.params.E);
      const { losses } = await trainSteps(model, pm, batch, {
        steps: 30,
        lr: 0.1,
        weightDecay: 0,
        backend: "webgpu",
      });
      const first = losses[0], last = losses[losses.length - 1];
      assert(Number.isFinite(last), `${name}: loss became ${last}`);
      assert(last < 0.15 * first, `${name}: loss went from ${first} to ${last}`);
      assert(before.some((v, i) => v !== pm.params.E[i]), `${name}: pm.params was not updated`);
    });
  }
}
