/** Token choice: greedy, top-k / top-p supports, seeded repeatability, bad words. */
import { assert, assertEquals } from "../_assert.ts";
import { banBadWords, pickToken } from "../../src/infer/logits_processors.ts";
import { SeededRandom } from "../../src/model/seeded_random.ts";

const logits = () => Float32Array.from([0, 3, 1, 2.5, -1]); // p ~ [.03,.55,.07,.33,.01]

function support(params: Parameters<typeof pickToken>[1], n = 400): Set<number> {
  const rng = new SeededRandom(5), seen = new Set<number>();
  for (let i = 0; i < n; i++) seen.add(pickToken(logits(), params, [], rng));
  return seen;
}

Deno.test("greedy picks the argmax and top-k / top-p restrict the sampled support", () => {
  assertEquals(pickToken(logits(), {}, [], new SeededRandom(1)), 1);
  assertEquals([...support({ temperature: 1, topK: 2 })].sort(), [1, 3]);
  assertEquals([...support({ temperature: 1, topP: 0.5 })], [1]);
  assertEquals([...support({ temperature: 1, topP: 0.8 })].sort(), [1, 3]);
  assertEquals(support({ temperature: 1 }).size, 5);
});

Deno.test("sampling frequencies follow the softmax", () => {
  const rng = new SeededRandom(9), counts = [0, 0, 0, 0, 0];
  for (let i = 0; i < 4000; i++) counts[pickToken(logits(), { temperature: 1 }, [], rng)]++;
  const l = [0, 3, 1, 2.5, -1], z = l.reduce((a, v) => a + Math.exp(v), 0);
  l.forEach((v, i) =>
    assert(Math.abs(counts[i] / 4000 - Math.exp(v) / z) < 0.03, `${i}: ${counts}`)
  );
});

Deno.test("bad words ban single tokens always and sequences only after their head", () => {
  const x = logits();
  banBadWords(x, [7, 8], [[1], [8, 3], [9, 2]]);
  assertEquals([x[1], x[3], x[2]], [-Infinity, -Infinity, 1]);
});
