/**
 * The loop judges a run by its dev metric: it exports the best evaluated prefix (ties to the
 * lower dev loss), stops early after `patience` evaluations without a better one, says when a
 * run failed, writes nothing over an earlier bundle when it did, and keeps all of it across a
 * resume. The metric here is scripted, so each rule is checked on known numbers.
 */
import { join } from "node:path";
import { PrefixBundle } from "../../src/bundle/mod.ts";
import { loadModel, type Prefix } from "../../src/model/mod.ts";
import {
  type DevMetric,
  readCheckpoint,
  readMetrics,
  train,
  type TrainRunOptions,
} from "../../src/train/mod.ts";
import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { GPT2_TINY } from "../_fixtures.ts";
import { type FakeOptions, fakeTrainerFactory } from "./_fake_trainer.ts";
import { LOOP_OPTIONS, tinyDataset } from "./_tiny_data.ts";

const model = await loadModel(`${GPT2_TINY}/model`);
const trainSet = await tinyDataset(20);
const devSet = await tinyDataset(6, "dev");

const BASE: Omit<TrainRunOptions, "outDir"> = {
  ...LOOP_OPTIONS,
  exportDtype: "F32",
};

/** A dev metric that returns the scripted scores in order and keeps every prefix it saw. */
function scripted(scores: number[]): DevMetric & { seen: (Prefix | null)[] } {
  const seen: (Prefix | null)[] = [];
  return {
    name: "exact",
    seen,
    evaluate(prefix) {
      seen.push(prefix ? { prefixLen: prefix.prefixLen, kv: prefix.kv.slice() } : null);
      const s = scores[seen.length - 1];
      if (s === undefined) throw new Error(`the script has no score for call ${seen.length}`);
      return Promise.resolve({ exact: s, bleu: s / 2 });
    },
  };
}

async function run(
  opts: Partial<TrainRunOptions>,
  metric: DevMetric,
  dir?: string,
  fake: FakeOptions = {},
) {
  const outDir = dir ?? await Deno.makeTempDir({ prefix: "best-prefix-" });
  const { factory } = fakeTrainerFactory(fake);
  const result = await train(model, { train: trainSet, dev: devSet }, {
    ...BASE,
    ...opts,
    outDir,
  }, { trainer: factory, progress: false, devMetric: metric, onWarn: () => {} });
  return { result, dir: outDir };
}

Deno.test("the bundle holds the best evaluated prefix, not the last one", async () => {
  // Calls: base model, untrained prefix (step 0), then steps 4, 8, 12.
  const metric = scripted([0, 0, 0.5, 0.9, 0.6]);
  const { result, dir } = await run({ steps: 12 }, metric);
  assertEquals(metric.seen[0], null, "the first call scores the base model alone");
  assertEquals(result.best?.step, 8);
  assertEquals(result.best?.metric, 0.9);
  assertEquals(result.baseScores, { exact: 0, bleu: 0 });
  assertEquals(result.finalScores, { exact: 0.6, bleu: 0.3 });
  assertEquals(result.verdict, { ok: true, problems: [] });
  const bundle = await PrefixBundle.load(result.files.export.path, { model });
  assertEquals(Array.from(bundle.prefix.kv), Array.from(metric.seen[3]!.kv));
  assert(
    Array.from(bundle.prefix.kv).join() !== Array.from(metric.seen[4]!.kv).join(),
    "the last prefix differs from the best one",
  );
  assertEquals(bundle.manifest.training.bestStep, 8);
  assertEquals((bundle.manifest.training.metrics as Record<string, number>).exact, 0.9);
  const summary = JSON.parse(await Deno.readTextFile(join(dir, "summary.json")));
  assertEquals([summary.bestStep, summary.bestMetric, summary.ok], [8, 0.9, true]);
  assertEquals(summary.baseScores.exact, 0);
  const evals = (await readMetrics(result.files.metrics)).filter((r) => r.type === "eval");
  assertEquals(evals.map((r) => r.type === "eval" && r.best), [true, true, true, false]);
  assert((await Deno.readTextFile(join(dir, "metric.svg"))).includes("base model"));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a tie on the metric goes to the lower dev loss", async () => {
  // The fake's dev loss falls step after step, so among equal scores the latest wins.
  const { result, dir } = await run({ steps: 12 }, scripted([0, 0, 1, 1, 1]));
  assertEquals(result.best?.step, 12);
  const evals = (await readMetrics(result.files.metrics)).filter((r) => r.type === "eval");
  const losses = evals.map((r) => r.type === "eval" ? r.devLoss : 0);
  assert(losses[3] < losses[2], `dev loss must fall for this test to mean anything: ${losses}`);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("patience stops a run that no longer improves, and the best prefix is kept", async () => {
  const metric = scripted([0, 0, 0.5, 0.4, 0.3, 0.9, 0.9]);
  const { result, dir } = await run({ steps: 40, patience: 2 }, metric);
  assertEquals(result.stoppedEarly, true);
  assertEquals(result.steps, 12, "two evaluations (8, 12) after the best (4)");
  assertEquals(result.best?.step, 4);
  assertEquals(metric.seen.length, 5, "no evaluation after the stop");
  const ckpt = await readCheckpoint(dir);
  assertEquals([ckpt.state.step, ckpt.state.stoppedEarly, ckpt.state.best?.step], [12, true, 4]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("stopAtMetric ends the run as soon as the target is reached", async () => {
  const { result, dir } = await run(
    { steps: 40, stopAtMetric: 0.95 },
    scripted([0, 0, 0.5, 0.96]),
  );
  assertEquals([result.steps, result.stoppedEarly, result.best?.step], [8, true, 8]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a run that never beats the base model fails, and writes nothing over an earlier bundle", async () => {
  const good = await run({ steps: 8 }, scripted([0, 0, 0.5, 1]));
  assert(good.result.verdict.ok);
  const before = await Deno.readFile(good.result.files.export.path);

  const bad = await run({ steps: 8 }, scripted([0.2, 0, 0.1, 0.2]), good.dir);
  assertEquals(bad.result.verdict.ok, false);
  assertEquals(bad.result.verdict.problems, [
    "no prefix beat the base model's exact (0.2000)",
  ]);
  assertEquals(bad.result.bundleWritten, false);
  assertEquals(await Deno.readFile(good.result.files.export.path), before);
  const summary = JSON.parse(await Deno.readTextFile(join(good.dir, "summary.json")));
  assertEquals([summary.ok, summary.export], [false, null]);

  // Without an earlier bundle, a failed run still leaves its best prefix, never a worse one.
  const alone = await run({ steps: 8 }, scripted([0.2, 0, 0.1, 0.05]));
  assertEquals([alone.result.bundleWritten, alone.result.best?.step], [true, 4]);
  for (const d of [good.dir, alone.dir]) await Deno.remove(d, { recursive: true });
});

Deno.test("a run whose dev loss ends above where it started fails", async () => {
  // A learning rate far too high for the fake's quadratic loss: every step overshoots.
  const { result, dir } = await run({ steps: 8, lr: 40, maxGradNorm: 0 }, scripted([0, 0, 0, 0]));
  assert(result.devLoss! > result.initialDevLoss!, `${result.initialDevLoss} -> ${result.devLoss}`);
  assertEquals(result.verdict.ok, false);
  assert(
    result.verdict.problems[0].startsWith("the dev loss rose from"),
    result.verdict.problems[0],
  );
  // The untrained prefix (lowest dev loss, same metric) is the one exported.
  assertEquals(result.best?.step, 0);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("resume keeps the best prefix, the start scores and the early-stopping count", async () => {
  const opts = { steps: 16, checkpointEvery: 4, patience: 3 };
  const full = await run(opts, scripted([0, 0, 0.9, 0.5, 0.6, 0.7]));
  assertEquals([full.result.best?.step, full.result.steps], [4, 16]);

  const crashDir = await Deno.makeTempDir({ prefix: "best-prefix-crash-" });
  await assertRejects(() => run(opts, scripted([0, 0, 0.9, 0.5]), crashDir, { crashAtStep: 10 }));
  const saved = await readCheckpoint(crashDir);
  assertEquals([saved.state.step, saved.state.best?.step, saved.state.sinceBest], [8, 4, 1]);
  assert(saved.bestParams?.E, "the checkpoint holds the best prefix's parameters");

  const resumed = await run({ ...opts, resume: crashDir }, scripted([0.6, 0.7]), crashDir);
  assertEquals(resumed.result.best?.step, 4);
  assertEquals(resumed.result.baseScores, { exact: 0, bleu: 0 });
  const a = await PrefixBundle.load(full.result.files.export.path, { model });
  const b = await PrefixBundle.load(resumed.result.files.export.path, { model });
  assertEquals(Array.from(b.prefix.kv), Array.from(a.prefix.kv));
  for (const d of [full.dir, crashDir]) await Deno.remove(d, { recursive: true });
});
