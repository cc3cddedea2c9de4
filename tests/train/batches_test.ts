import { collateBatch, mixSeed, planEpoch, Rng } from "../../src/train/mod.ts";
import { assert, assertEquals } from "../_assert.ts";

/** 100 lengths, deterministic but unordered. */
const lengths = Array.from({ length: 100 }, (_, i) => 5 + ((i * 37) % 60));

Deno.test("planEpoch() covers every example exactly once per epoch", () => {
  for (const epoch of [0, 1, 5]) {
    const plan = planEpoch(lengths, { batchSize: 8, seed: 3, epoch });
    assertEquals(plan.flat().sort((a, b) => a - b), lengths.map((_, i) => i));
    for (const b of plan) assert(b.length >= 1 && b.length <= 8);
  }
});

Deno.test("planEpoch() is deterministic under a seed and changes with the seed and the epoch", () => {
  const a = planEpoch(lengths, { batchSize: 8, seed: 3, epoch: 0 });
  assertEquals(planEpoch(lengths, { batchSize: 8, seed: 3, epoch: 0 }), a);
  assert(
    JSON.stringify(planEpoch(lengths, { batchSize: 8, seed: 4, epoch: 0 })) !== JSON.stringify(a),
  );
  assert(
    JSON.stringify(planEpoch(lengths, { batchSize: 8, seed: 3, epoch: 1 })) !== JSON.stringify(a),
  );
});

Deno.test("planEpoch() buckets by length: far less padding than a plain shuffle", () => {
  const padding = (plan: number[][]) =>
    plan.reduce((acc, b) => {
      const ls = b.map((i) => lengths[i]);
      return acc + ls.reduce((s, l) => s + Math.max(...ls) - l, 0);
    }, 0);
  const bucketed = planEpoch(lengths, { batchSize: 8, seed: 3, epoch: 0 });
  const rng = new Rng(3);
  const shuffled = rng.shuffle(lengths.map((_, i) => i));
  const plain = Array.from({ length: 13 }, (_, k) => shuffled.slice(k * 8, k * 8 + 8));
  assert(padding(bucketed) * 3 < padding(plain), `${padding(bucketed)} vs ${padding(plain)}`);
});

Deno.test("planEpoch() without shuffle sorts by length (evaluation order)", () => {
  const plan = planEpoch(lengths, { batchSize: 10, seed: 0, epoch: 0, shuffle: false });
  const order = plan.flat().map((i) => lengths[i]);
  assertEquals(order, [...order].sort((a, b) => a - b));
});

Deno.test("Rng reproduces its sequence from a seed or a saved state", () => {
  const a = new Rng(mixSeed(42, 2));
  const first = [a.next(), a.next()];
  const resumed = new Rng(a.state);
  const b = new Rng(mixSeed(42, 2));
  assertEquals([b.next(), b.next()], first);
  assertEquals(resumed.next(), b.next());
  for (let i = 0; i < 1000; i++) {
    const x = b.next();
    assert(x >= 0 && x < 1);
  }
  assert(mixSeed(42, 1) !== mixSeed(42, 2) && mixSeed(42, 1) !== mixSeed(43, 1));
});

Deno.test("collateBatch() right-pads ids with the pad id, labels with -100, mask with 0", () => {
  const examples = [
    { inputIds: [5, 6, 7, 8], labels: [-100, -100, 7, 8] },
    { inputIds: [9, 10], labels: [-100, 10] },
  ];
  assertEquals(collateBatch(examples, [1, 0], 0), {
    inputIds: [[9, 10, 0, 0], [5, 6, 7, 8]],
    labels: [[-100, 10, -100, -100], [-100, -100, 7, 8]],
    attentionMask: [[1, 1, 0, 0], [1, 1, 1, 1]],
  });
});
