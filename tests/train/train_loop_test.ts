import { join } from "node:path";
import { PrefixEdgeError } from "../../src/errors/mod.ts";
import { PrefixBundle } from "../../src/bundle/mod.ts";
import { loadModel } from "../../src/model/mod.ts";
import {
  linearWarmupDecay,
  type MetricsRecord,
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
};

async function run(
  opts: Partial<TrainRunOptions>,
  fake: FakeOptions = {},
  outDir?: string,
) {
  const dir = outDir ?? await Deno.makeTempDir({ prefix: "train-loop-" });
  const { factory, log } = fakeTrainerFactory(fake);
  const warnings: string[] = [];
  const result = await train(model, { train: trainSet, dev: devSet }, {
    ...BASE,
    ...opts,
    outDir: dir,
  }, { trainer: factory, progress: false, onWarn: (m) => warnings.push(m) });
  return { result, log, warnings, dir };
}

/** Metrics without the wall-clock fields, which never repeat. */
function stable(records: MetricsRecord[]) {
  return records.map((r) => {
    if (r.type !== "train") return r;
    const { tokensPerSec: _t, elapsedSec: _e, ...rest } = r;
    return rest;
  });
}

Deno.test("train() groups micro-batches by gradAccum and follows the linear schedule", async () => {
  const { result, log, dir } = await run({ epochs: 2, gradAccum: 2, warmupSteps: 2 });
  // 20 examples, batch 3 -> 7 batches per epoch; 2 epochs = 14 micro-batches = 7 steps.
  assertEquals(result.steps, 7);
  assertEquals(log.microPerStep, [2, 2, 2, 2, 2, 2, 2]);
  assertEquals(log.accumulateRows.reduce((a, b) => a + b, 0), 40);
  const expected = [0, 1, 2, 3, 4, 5, 6].map((s) =>
    linearWarmupDecay(s, { lr: 0.05, warmupSteps: 2, totalSteps: 7 })
  );
  assertEquals(log.lrs, expected);
  assertEquals(log.lrs[0], 0);
  assertEquals(log.lrs[2], 0.05);
  assert(log.destroyed, "the trainer must be destroyed");
  // Every example once per epoch: the first token ids of epoch 1 are a permutation of epoch 0's.
  const firstEpoch = log.rows.slice(0, 20), secondEpoch = log.rows.slice(20);
  assertEquals([...firstEpoch].sort(), [...secondEpoch].sort());
  await Deno.remove(dir, { recursive: true });
});

Deno.test("train() writes metrics.jsonl lines with the documented fields", async () => {
  const { result, dir } = await run({ steps: 8 });
  const records = await readMetrics(result.files.metrics);
  const trainLines = records.filter((r) => r.type === "train");
  const evalLines = records.filter((r) => r.type === "eval");
  assertEquals(trainLines.map((r) => r.step), [2, 4, 6, 8]);
  assertEquals(evalLines.map((r) => r.step), [0, 4, 8]);
  for (const r of trainLines) {
    assertEquals(Object.keys(r).sort(), [
      "elapsedSec",
      "epoch",
      "gates",
      "gradNorm",
      "loss",
      "lr",
      "skipped",
      "step",
      "tokens",
      "tokensPerSec",
      "type",
    ]);
    assert(typeof r.loss === "number" && Number.isFinite(r.loss));
    assert(typeof r.gradNorm === "number" && r.gradNorm > 0);
    assert(r.tokens > 0 && r.tokensPerSec > 0 && r.epoch > 0);
    assertEquals(r.gates.length, 2);
    for (const g of r.gates) assert(g > 0 && g < 1, `gate ${g} must be a sigmoid`);
  }
  for (const r of evalLines) {
    assertEquals(Object.keys(r).sort(), ["best", "devLoss", "devTokens", "epoch", "step", "type"]);
    assert(r.devLoss > 0 && r.devTokens > 0);
  }
  // The fake's quadratic loss must fall under AdamW.
  assert(evalLines.at(-1)!.devLoss < evalLines[0].devLoss, "dev loss should fall");
  assertEquals(result.initialDevLoss, evalLines[0].devLoss);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("train() writes plots, a summary and a bundle of the folded prefix", async () => {
  const { result, dir } = await run({ steps: 4, taskName: "tiny", exportDtype: "F32" });
  const loss = await Deno.readTextFile(join(dir, "loss.svg"));
  const gates = await Deno.readTextFile(join(dir, "gates.svg"));
  assert(loss.includes("<svg") && gates.includes("<svg"));
  assertEquals(result.files.export, { path: join(dir, "tiny.prefix.zip"), kind: "bundle" });
  const bundle = await PrefixBundle.load(result.files.export.path, { model });
  assertEquals(bundle.manifest.prefixLen, 2);
  assertEquals(bundle.manifest.method.reparam, "residual");
  assertEquals(bundle.manifest.method.gates, result.gates);
  assertEquals(bundle.manifest.training.steps, 4);
  assertEquals(Array.from(bundle.prefix.kv), Array.from(result.prefixModule.fold().kv));
  const summary = JSON.parse(await Deno.readTextFile(join(dir, "summary.json")));
  assertEquals(summary.steps, 4);
  assertEquals(summary.gates.length, 2);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("train() reproduces a run under the same seed and changes with another", async () => {
  const a = await run({ steps: 6 });
  const b = await run({ steps: 6 });
  const c = await run({ steps: 6, seed: 8 });
  assertEquals(a.log.rows, b.log.rows);
  assertEquals(
    Array.from(a.result.prefixModule.fold().kv),
    Array.from(b.result.prefixModule.fold().kv),
  );
  assert(a.log.rows.join() !== c.log.rows.join(), "another seed must change the data order");
  assert(
    a.result.prefixModule.params.E.some((v, i) => v !== c.result.prefixModule.params.E[i]),
    "another seed must change the init",
  );
  for (const r of [a, b, c]) await Deno.remove(r.dir, { recursive: true });
});

Deno.test("resume restores step, optimizer and params and continues identically", async () => {
  const opts = { steps: 10, checkpointEvery: 4, gradAccum: 2, warmupSteps: 3, weightDecay: 0.01 };
  const full = await run(opts);

  const crashDir = await Deno.makeTempDir({ prefix: "train-crash-" });
  await assertRejects(() => run(opts, { crashAtStep: 7 }, crashDir), (e) => {
    assert((e as Error).message.includes("simulated crash"));
  });
  const saved = await readCheckpoint(crashDir);
  assertEquals(saved.state.step, 4);
  assertEquals(saved.optimizer.step, 4);
  assertEquals(saved.state.microBatches, 8);

  const resumed = await run({ ...opts, resume: crashDir }, {}, crashDir);
  assertEquals(resumed.result.resumedFrom, 4);
  assertEquals(resumed.log.lrs, full.log.lrs.slice(4));
  assertEquals(
    resumed.log.rows,
    full.log.rows.slice(full.log.rows.length - resumed.log.rows.length),
  );
  for (const name of Object.keys(full.result.prefixModule.params)) {
    assertEquals(
      Array.from(resumed.result.prefixModule.params[name]),
      Array.from(full.result.prefixModule.params[name]),
      `param ${name} differs after resume`,
    );
  }
  const endA = await readCheckpoint(full.dir), endB = await readCheckpoint(crashDir);
  assertEquals(endB.optimizer.step, endA.optimizer.step);
  for (const name of Object.keys(endA.optimizer.m)) {
    assertEquals(Array.from(endB.optimizer.m[name]), Array.from(endA.optimizer.m[name]));
    assertEquals(Array.from(endB.optimizer.v[name]), Array.from(endA.optimizer.v[name]));
  }
  assertEquals(
    stable(await readMetrics(join(crashDir, "metrics.jsonl"))),
    stable(await readMetrics(join(full.dir, "metrics.jsonl"))),
  );
  await Deno.remove(full.dir, { recursive: true });
  await Deno.remove(crashDir, { recursive: true });
});

Deno.test("resume refuses a checkpoint whose options or data differ", async () => {
  const first = await run({ steps: 4 });
  await assertRejects(() => run({ steps: 4, lr: 0.01, resume: first.dir }), (e) => {
    assert(e instanceof PrefixEdgeError && e.code === "CHECKPOINT_MISMATCH");
    assert(e.message.includes("lr was 0.05, now 0.01"), e.message);
  });
  const { factory } = fakeTrainerFactory();
  await assertRejects(
    () =>
      train(model, { train: devSet }, { ...BASE, steps: 4, outDir: first.dir, resume: first.dir }, {
        trainer: factory,
        progress: false,
      }),
    (e) => {
      assert(e instanceof PrefixEdgeError && e.code === "CHECKPOINT_MISMATCH");
      assert(e.message.includes("training data differs"), e.message);
    },
  );
  await assertRejects(() => run({ steps: 4, resume: join(first.dir, "nothing-here") }), (e) => {
    assert(e instanceof PrefixEdgeError && e.code === "FILE_NOT_FOUND", String(e));
  });
  await Deno.remove(first.dir, { recursive: true });
});

Deno.test("the NaN guard skips a non-finite step, warns, and training goes on", async () => {
  const { result, warnings, log, dir } = await run({ steps: 6 }, { nanSteps: (s) => s === 3 });
  assertEquals(result.steps, 6);
  assertEquals(warnings.length, 1);
  assert(warnings[0].includes("step 3") && warnings[0].includes("skipped"), warnings[0]);
  assertEquals(log.lrs.length, 6);
  const records = await readMetrics(result.files.metrics);
  assertEquals(records.filter((r) => r.type === "warn").map((r) => r.step), [3]);
  const window = records.find((r) => r.type === "train" && r.step === 4);
  assert(window?.type === "train" && window.skipped === 1);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("the NaN guard stops with TRAINING_DIVERGED after maxBadSteps in a row", async () => {
  const dir = await Deno.makeTempDir({ prefix: "train-nan-" });
  const warnings: string[] = [];
  const { factory, log } = fakeTrainerFactory({ nanSteps: (s) => s >= 2 });
  await assertRejects(
    () =>
      train(model, { train: trainSet }, { ...BASE, steps: 20, maxBadSteps: 3, outDir: dir }, {
        trainer: factory,
        progress: false,
        onWarn: (m) => warnings.push(m),
      }),
    (e) => {
      assert(e instanceof PrefixEdgeError && e.code === "TRAINING_DIVERGED", String(e));
      assert(e.message.includes("3 steps in a row"), e.message);
    },
  );
  assertEquals(warnings.length, 3);
  assertEquals(log.lrs.length, 4, "stops at the third bad step in a row");
  assert(log.destroyed);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a prefix too long for the context is refused with a clear code", async () => {
  const { factory } = fakeTrainerFactory();
  const go = (o: Partial<TrainRunOptions>) =>
    train(model, { train: trainSet }, { ...BASE, steps: 2, outDir: "/nonexistent", ...o }, {
      trainer: factory,
      progress: false,
    });
  // gpt2-tiny has 128 positions.
  await assertRejects(() => go({ prefixLen: 128 }), (e) => {
    assert(e instanceof PrefixEdgeError && e.code === "PREFIX_MISMATCH", String(e));
  });
  await assertRejects(() => go({ prefixLen: 100, maxLen: 40 }), (e) => {
    assert(e instanceof PrefixEdgeError && e.code === "CONTEXT_OVERFLOW", String(e));
    assert(e.message.includes("--max-len 28"), e.message);
  });
  await assertRejects(() => go({ batchSize: 0 }), (e) => {
    assert(e instanceof PrefixEdgeError && e.code === "INVALID_INPUT", String(e));
  });
});

/** The `[x, y]` vertices of the gates chart's line for prefix token `i`. */
function gateLine(svg: string, i: number): [number, number][] {
  const m = new RegExp(`<path d="([^"]*)"[^>]*><title>token ${i}</title>`).exec(svg);
  assert(m, `no line for token ${i}`);
  return m[1].trim().split(/(?=[ML])/).map((p) => {
    const [x, y] = p.slice(1).trim().split(" ").map(Number);
    return [x, y];
  });
}

Deno.test("the gates plot starts at the initial gates at step 0, also after a resume", async () => {
  const opts = { steps: 8, checkpointEvery: 4, logEvery: 4, evalEvery: 0 };
  const { result, dir } = await run(opts);
  const svg = await Deno.readTextFile(join(dir, "gates.svg"));
  const trainLines = (await readMetrics(join(dir, "metrics.jsonl")))
    .filter((r) => r.type === "train");
  assertEquals(trainLines.map((r) => r.step), [4, 8]);
  // Steps 0, 4 and 8: one vertex per logged step plus the initial gates.
  const line = gateLine(svg, 0);
  assertEquals(line.length, 3, svg);
  assert(svg.includes(">0</text>"), "the x axis starts at step 0");
  // Evenly spaced steps give evenly spaced vertices.
  assert(Math.abs((line[1][0] - line[0][0]) - (line[2][0] - line[1][0])) < 0.2, String(line));
  const summary = JSON.parse(await Deno.readTextFile(join(dir, "summary.json")));
  assertEquals(summary.initialGates, [0.5, 0.5]);
  assert(result.gates.some((g) => g !== 0.5), "the gates moved");

  // Crash after the step-4 checkpoint and resume: the plot still starts at step 0.
  const crashDir = await Deno.makeTempDir({ prefix: "train-gates-" });
  await assertRejects(() => run(opts, { crashAtStep: 6 }, crashDir));
  const resumed = await run({ ...opts, resume: crashDir }, {}, crashDir);
  assertEquals(resumed.result.resumedFrom, 4);
  const resumedSvg = await Deno.readTextFile(join(crashDir, "gates.svg"));
  assertEquals(gateLine(resumedSvg, 0), line);
  assertEquals(resumed.result.initialDevLoss, result.initialDevLoss);
  await Deno.remove(dir, { recursive: true });
  await Deno.remove(crashDir, { recursive: true });
});

Deno.test("train() refuses a task name that cannot be a bundle file name before training", async () => {
  const { factory, log } = fakeTrainerFactory();
  const parent = await Deno.makeTempDir({ prefix: "train-name-" });
  for (const taskName of ["a/b", "../up", "My Task", ""]) {
    const outDir = join(parent, "out");
    await assertRejects(
      () =>
        train(model, { train: trainSet }, { ...BASE, steps: 2, outDir, taskName }, {
          trainer: factory,
          progress: false,
        }),
      (e) => {
        assert(e instanceof PrefixEdgeError && e.code === "INVALID_INPUT", String(e));
        assert(e.message.includes("<task>.prefix.zip"), e.message);
      },
    );
    assert(!(await Deno.stat(outDir).then(() => true, () => false)), "nothing is written");
  }
  assertEquals(log.lrs.length, 0, "no step ran");
  await Deno.remove(parent, { recursive: true });
});

Deno.test("train() refuses an output folder that is a file, before training", async () => {
  const { factory, log } = fakeTrainerFactory();
  const dir = await Deno.makeTempDir({ prefix: "train-out-" });
  const file = join(dir, "taken");
  await Deno.writeTextFile(file, "");
  for (const outDir of [file, join(file, "sub")]) {
    await assertRejects(
      () =>
        train(model, { train: trainSet }, { ...BASE, steps: 2, outDir }, {
          trainer: factory,
          progress: false,
        }),
      (e) => {
        assert(e instanceof PrefixEdgeError && e.code === "INVALID_INPUT", String(e));
        assert(e.message.includes(`Cannot write the run to ${outDir}: `), e.message);
      },
    );
  }
  assertEquals(log.lrs.length, 0, "no step ran");
  await Deno.remove(dir, { recursive: true });
});
