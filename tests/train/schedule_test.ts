import { linearWarmupDecay } from "../../src/train/mod.ts";
import { assertAlmostEquals, assertEquals } from "../_assert.ts";

Deno.test("linearWarmupDecay() matches Hugging Face's linear schedule with warmup", () => {
  // Values of transformers.get_linear_schedule_with_warmup(opt, 3, 10) times lr 8e-5:
  // lambda(s) = s/3 for s < 3, else (10 - s)/7.
  const o = { lr: 8e-5, warmupSteps: 3, totalSteps: 10 };
  const expected = [0, 1 / 3, 2 / 3, 1, 6 / 7, 5 / 7, 4 / 7, 3 / 7, 2 / 7, 1 / 7, 0].map((x) =>
    x * 8e-5
  );
  for (let s = 0; s <= 10; s++) assertAlmostEquals(linearWarmupDecay(s, o), expected[s], 1e-18);
});

Deno.test("linearWarmupDecay() without warmup starts at the peak and never goes below 0", () => {
  const o = { lr: 1, warmupSteps: 0, totalSteps: 4 };
  assertEquals([0, 1, 2, 3, 4, 9].map((s) => linearWarmupDecay(s, o)), [1, 0.75, 0.5, 0.25, 0, 0]);
});
