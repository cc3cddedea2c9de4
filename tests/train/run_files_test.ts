/**
 * A run that writes to memory instead of a folder (what a page does): every file lands in the
 * run's files, a bundle read back from them verifies, and a run stopped by its signal resumes from
 * those files to the same result as a run that was never stopped.
 */
import { PrefixBundle } from "../../src/bundle/mod.ts";
import { loadModel } from "../../src/model/mod.ts";
import { memoryRun, readCheckpoint, train, type TrainRunOptions } from "../../src/train/mod.ts";
import { assert, assertEquals } from "../_assert.ts";
import { GPT2_TINY } from "../_fixtures.ts";
import { fakeTrainerFactory } from "./_fake_trainer.ts";
import { LOOP_OPTIONS, tinyDataset } from "./_tiny_data.ts";

const model = await loadModel(`${GPT2_TINY}/model`);
const data = { train: await tinyDataset(20), dev: await tinyDataset(6, "dev") };
const OPTIONS: Omit<TrainRunOptions, "outDir"> = { ...LOOP_OPTIONS, steps: 8, logEvery: 1 };

Deno.test("a run in memory writes its metrics, plots, checkpoint, bundle and summary there", async () => {
  const run = memoryRun("in-memory");
  const result = await train(model, data, { ...OPTIONS, outDir: run, taskName: "demo" }, {
    trainer: fakeTrainerFactory().factory,
    progress: false,
  });
  assertEquals(
    [...run.files.keys()].sort(),
    [
      "checkpoint/checkpoint.json",
      "checkpoint/state.safetensors",
      "demo.prefix.zip",
      "gates.svg",
      "loss.svg",
      "metrics.jsonl",
      "summary.json",
    ],
  );
  assertEquals(result.files.export.path, "in-memory/demo.prefix.zip");
  const bundle = await PrefixBundle.fromBytes(run.files.get("demo.prefix.zip")!, { model });
  assertEquals(bundle.manifest.task, "demo");
  const summary = JSON.parse(new TextDecoder().decode(run.files.get("summary.json")));
  assertEquals([summary.steps, summary.stopped], [8, false]);
  assertEquals((await readCheckpoint(run)).state.step, 8);
});

Deno.test("a run stopped by its signal checkpoints, and resuming it ends where an unstopped run ends", async () => {
  const whole = memoryRun();
  const unstopped = await train(model, data, { ...OPTIONS, outDir: whole }, {
    trainer: fakeTrainerFactory().factory,
    progress: false,
  });

  const run = memoryRun();
  const stop = new AbortController();
  const first = await train(model, data, { ...OPTIONS, outDir: run, signal: stop.signal }, {
    trainer: fakeTrainerFactory().factory,
    progress: false,
    onLog: (r) => {
      if (r.type === "train" && r.step === 3) stop.abort();
    },
  });
  assert(first.stopped, "the run says it was stopped");
  assertEquals(first.steps, 3);
  assertEquals((await readCheckpoint(run)).state.step, 3);

  const resumed = await train(model, data, { ...OPTIONS, outDir: run, resume: run }, {
    trainer: fakeTrainerFactory().factory,
    progress: false,
  });
  assertEquals([resumed.resumedFrom, resumed.steps, resumed.stopped], [3, 8, false]);
  assertEquals(resumed.gates, unstopped.gates);
  for (const [name, value] of Object.entries(unstopped.prefixModule.params)) {
    assertEquals(Array.from(resumed.prefixModule.params[name]), Array.from(value), name);
  }
});
