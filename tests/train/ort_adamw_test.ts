/**
 * The host AdamW of the ONNX Runtime trainers (src/train/ort/adamw.ts), on numbers worked out by
 * hand from torch.optim.AdamW and clip_grad_norm_: each term (decoupled weight decay, bias
 * correction, clipping, the skip on a non-finite norm) changes the result, so each is checked.
 */
import { type AdamWOptions, resolveAdamW } from "../../src/train/mod.ts";
import { adamwStep as step, globalNorm } from "../../src/train/ort/adamw.ts";
import { assert, assertAlmostEquals, assertEquals } from "../_assert.ts";

/** One update with the options resolved as every trainer resolves them. */
const adamwStep = (
  params: Record<string, Float32Array>,
  grads: Record<string, Float32Array>,
  moments: { m: Record<string, Float32Array>; v: Record<string, Float32Array> },
  opt: AdamWOptions,
  n: number,
) => step(params, grads, moments, resolveAdamW(opt, 1), n);

const fresh = (n: number) => ({ m: { p: new Float32Array(n) }, v: { p: new Float32Array(n) } });

Deno.test("one AdamW step: decoupled weight decay, then the bias-corrected Adam update", () => {
  // Step 1, g = 0.5: m = 0.05, v = 2.5e-4; m/(1-b1) = 0.5, sqrt(v/(1-b2)) = 0.5, so the Adam
  // step is lr * 0.5 / 0.5 = 0.1 (eps negligible), and decay scales p by 1 - lr * wd.
  const params = { p: Float32Array.of(1) };
  const r = adamwStep(params, { p: Float32Array.of(0.5) }, fresh(1), {
    lr: 0.1,
    weightDecay: 0.01,
    maxGradNorm: 0,
  }, 1);
  assertEquals(r, { gradNorm: 0.5, skipped: false });
  assertAlmostEquals(params.p[0], 1 * (1 - 0.1 * 0.01) - 0.1, 1e-6);
  // Without weight decay the result differs by lr * wd * p = 1e-3.
  const plain = { p: Float32Array.of(1) };
  adamwStep(plain, { p: Float32Array.of(0.5) }, fresh(1), {
    lr: 0.1,
    weightDecay: 0,
    maxGradNorm: 0,
  }, 1);
  assertAlmostEquals(plain.p[0], 0.9, 1e-6);
});

Deno.test("the second step uses both moments and both bias corrections", () => {
  const params = { p: Float32Array.of(0) }, moments = fresh(1);
  const opt = { lr: 1, weightDecay: 0, maxGradNorm: 0, eps: 0 };
  adamwStep(params, { p: Float32Array.of(1) }, moments, opt, 1);
  adamwStep(params, { p: Float32Array.of(-1) }, moments, opt, 2);
  // m2 = 0.9*0.1 - 0.1 = -0.01, v2 = 0.999*0.001 + 0.001 = 0.001999;
  // step = -(m2/(1-0.81)) / sqrt(v2/(1-0.998001)).
  const m2 = -0.01, v2 = 0.001999;
  const expected = -1 - (m2 / (1 - 0.9 ** 2)) / Math.sqrt(v2 / (1 - 0.999 ** 2));
  assertAlmostEquals(params.p[0], expected, 1e-5);
  assertAlmostEquals(moments.m.p[0], m2, 1e-7);
  assertAlmostEquals(moments.v.p[0], v2, 1e-8);
});

Deno.test("gradients are clipped by their global norm across every parameter", () => {
  const params = { a: Float32Array.of(0), b: Float32Array.of(0) };
  const grads = { a: Float32Array.of(3), b: Float32Array.of(4) };
  assertEquals(globalNorm(Object.values(grads)), 5);
  const moments = {
    m: { a: new Float32Array(1), b: new Float32Array(1) },
    v: { a: new Float32Array(1), b: new Float32Array(1) },
  };
  const r = adamwStep(params, grads, moments, { lr: 0.1, weightDecay: 0, maxGradNorm: 1 }, 1);
  assertEquals(r.gradNorm, 5, "the norm reported is the one before clipping");
  // The clipped gradient (0.6, 0.8) is what the first moment sees.
  assertAlmostEquals(moments.m.a[0], 0.1 * 0.6, 1e-6);
  assertAlmostEquals(moments.m.b[0], 0.1 * 0.8, 1e-6);
});

Deno.test("a non-finite gradient norm changes nothing and reports a skip", () => {
  const params = { p: Float32Array.of(1, 2) }, moments = fresh(2);
  const r = adamwStep(params, { p: Float32Array.of(NaN, 1) }, moments, { lr: 0.1 }, 1);
  assert(r.skipped && Number.isNaN(r.gradNorm));
  assertEquals(Array.from(params.p), [1, 2]);
  assertEquals(Array.from(moments.m.p), [0, 0]);
});

Deno.test("a summed gradient with gradScale updates as the averaged one does, clipped alike", () => {
  // Sums over 4 tokens, (12, 16): averaged (3, 4), norm 5, clipped to norm 1 -> (0.6, 0.8).
  const opt = resolveAdamW({ lr: 0.1, weightDecay: 0.01, maxGradNorm: 1 }, 1);
  const summed = { p: Float32Array.of(1, -1) }, averaged = { p: Float32Array.of(1, -1) };
  const m1 = fresh(2), m2 = fresh(2);
  const r1 = step(summed, { p: Float32Array.of(12, 16) }, m1, opt, 1, 1 / 4);
  const r2 = step(averaged, { p: Float32Array.of(3, 4) }, m2, opt, 1);
  assertEquals(r1, r2);
  assertEquals(r1.gradNorm, 5);
  assertEquals(Array.from(summed.p), Array.from(averaged.p));
  assertAlmostEquals(m1.m.p[0], 0.1 * 0.6, 1e-6);
  assertAlmostEquals(m1.m.p[1], 0.1 * 0.8, 1e-6);
});
