/**
 * The main job as a user runs it, timed: `deno task train` with no arguments (stories260K on
 * data/pet-stories), then `deno task eval` of its bundle on 200 records in neither data file;
 * and the native trainer's step at the main job's shape with ORT's CPU memory arena on and off,
 * alternating, with the minor page faults each made (from /proc/self/stat).
 *
 * Usage: deno run -A bench/main_job_bench.ts [--quick]   (--quick: the step comparison only)
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadModel } from "../src/model/mod.ts";
import { PrefixModule } from "../src/prefix/mod.ts";
import { collateBatch, OrtPrefixTrainer, planEpoch, prepareDataset } from "../src/train/mod.ts";
import { printHelpIfAsked } from "./_help.ts";
import { median, runCommand } from "./_measure.ts";

printHelpIfAsked(import.meta.url);
const ROOT = fileURLToPath(new URL("../", import.meta.url));
const quick = Deno.args.includes("--quick");

/** Minor page faults of this process so far (field 10 of /proc/self/stat). */
function minorFaults(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[7]);
}

console.log("| what | value |");
console.log("| --- | --- |");

if (!quick) {
  const tmp = await Deno.makeTempDir({ prefix: "main-job-bench-" });
  const t0 = performance.now();
  const train = await runCommand(Deno.execPath(), [
    "task",
    "train",
    "--samples",
    "0",
    "--out",
    join(tmp, "run"),
  ]);
  const trainSec = (performance.now() - t0) / 1000;
  const summary = JSON.parse(await Deno.readTextFile(join(tmp, "run", "summary.json")));
  console.log(`| deno task train (wall, process start to exit) | ${trainSec.toFixed(1)} s |`);
  console.log(`| exit | ${train.ok ? 0 : "non-zero"} |`);
  console.log(`| steps run / best step | ${summary.steps} / ${summary.bestStep} |`);
  console.log(
    `| dev exact (40 records): base, best | ${summary.baseScores.exact}, ${summary.bestMetric} |`,
  );
  const held = join(tmp, "held.jsonl");
  await runCommand(Deno.execPath(), [
    "run",
    "--allow-write",
    `${ROOT}data/pet-stories/generate.ts`,
    "--held-out",
    "200",
    "--out",
    held,
  ]);
  const ev = await runCommand(Deno.execPath(), [
    "task",
    "eval",
    "--data",
    held,
    "--slots",
    `${ROOT}data/pet-stories/slots.json`,
    "--bundle",
    join(tmp, "run", "pet-stories.prefix.zip"),
    "--num-beams",
    "1",
    "--out",
    join(tmp, "eval"),
  ]);
  const scores = JSON.parse(await Deno.readTextFile(join(tmp, "eval", "scores.json"))).scores;
  console.log(
    `| held-out exact (200 records in neither file) | ${scores.exact} (eval ${
      ev.ok ? "ok" : "failed"
    }) |`,
  );
  console.log(`| held-out BLEU | ${scores.bleu.toFixed(4)} |`);
  await Deno.remove(tmp, { recursive: true });
}

// The native step at the main job's shape: batch 8 of pet-stories, P=20, residual + gate.
const model = await loadModel(`${ROOT}models/stories260K`);
const data = await prepareDataset(model, `${ROOT}data/pet-stories/train.jsonl`, { maxLen: 160 });
const order = planEpoch(data.examples.map((e) => e.inputIds.length), {
  batchSize: 8,
  seed: 1,
  epoch: 0,
});
const batches = order.slice(0, 20).map((idx) =>
  collateBatch(data.examples, idx, model.config.eosTokenIds[0] ?? 0)
);
const longest = Math.max(...batches.map((b) => b.inputIds[0].length));
const STEPS = 100;
const result: Record<string, { ms: number[]; faults: number[] }> = {
  on: { ms: [], faults: [] },
  off: { ms: [], faults: [] },
};
for (let round = 0; round < 2; round++) {
  for (const arena of ["on", "off"] as const) {
    const pm = PrefixModule.init(model.config, {
      prefixLen: 20,
      reparam: "residual",
      gate: true,
      midDim: 512,
      seed: 1,
    });
    const trainer = await OrtPrefixTrainer.create(model, pm, {
      maxBatch: 8,
      maxLen: longest,
      cpuMemArena: arena === "on",
    });
    for (let i = 0; i < 5; i++) {
      await trainer.accumulate(batches[i]);
      await trainer.step({ lr: 1e-2 });
    }
    const f0 = minorFaults(), t = performance.now();
    for (let i = 0; i < STEPS; i++) {
      await trainer.accumulate(batches[i % batches.length]);
      await trainer.step({ lr: 1e-2 });
    }
    result[arena].ms.push((performance.now() - t) / STEPS);
    result[arena].faults.push((minorFaults() - f0) / STEPS);
    trainer.destroy();
  }
}
for (const arena of ["on", "off"] as const) {
  console.log(
    `| native step, arena ${arena} (B=8, P=20, ms; 2 rounds) | ${
      result[arena].ms.map((x) => x.toFixed(1)).join(", ")
    } |`,
  );
  console.log(
    `| minor page faults per step, arena ${arena} | ${
      result[arena].faults.map((x) => x.toFixed(0)).join(", ")
    } |`,
  );
}
console.log(
  `| step time ratio, arena off / on | ${
    (median(result.off.ms) / median(result.on.ms)).toFixed(2)
  }x |`,
);
