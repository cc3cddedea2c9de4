/**
 * `deno task train`: train a prefix for a frozen base model (GPT-2 or Llama family) on ONNX
 * Runtime or WebGPU, judge it by what it generates on held-out data, and export the best one
 * for serving. See docs/training.md.
 *
 * @module
 */
import { basename, dirname, extname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  BUNDLE_DTYPES,
  type BundleDtype,
  type BundleGeneration,
  validateTaskName,
} from "../bundle/mod.ts";
import { PrefixEdgeError } from "../errors/mod.ts";
import { loadModel } from "../model/mod.ts";
import {
  assertTrainable,
  checkContext,
  DATA_FORMATS,
  type DataFormat,
  DEFAULT_TRAIN_OPTIONS,
  type LoadedExamples,
  loadExamples,
  MAIN_JOB_FILES,
  MAIN_JOB_OPTIONS,
  MAIN_JOB_PATIENCE,
  prepareDataset,
  resolveTrainOptions,
  taskUsage,
  train,
  TRAINING_BACKENDS,
  type TrainingBackend,
  type TrainOptions,
} from "../train/mod.ts";
import { type Reparam, REPARAMS } from "../prefix/mod.ts";
import {
  type CliSpec,
  type CliValues,
  numberOption,
  parseCli,
  runCli,
  UsageError,
} from "./_args.ts";
import { beforeAfter, formatBeforeAfter } from "./_before_after.ts";
import { readTokenFile } from "./_token_file.ts";
import { openPublishTarget, type PublishTarget } from "../serve/mod.ts";
import { formatScore, type GenerationDevMetric, generationDevMetric } from "../study/mod.ts";

/** The flag that sets each training option, for error messages. */
const FLAG_OF: Record<keyof TrainOptions, string> = {
  prefixLen: "--prefix-len",
  reparam: "--reparam",
  gate: "--gate",
  midDim: "--mid-dim",
  lr: "--lr",
  epochs: "--epochs",
  steps: "--steps",
  batchSize: "--batch",
  gradAccum: "--grad-accum",
  maxLen: "--max-len",
  warmupSteps: "--warmup-steps",
  weightDecay: "--weight-decay",
  maxGradNorm: "--max-grad-norm",
  seed: "--seed",
  logEvery: "--log-every",
  evalEvery: "--eval-every",
  patience: "--patience",
  checkpointEvery: "--checkpoint-every",
  maxBadSteps: "--max-bad-steps",
};

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** The embedded default model: a real pretrained Llama (stories260K, MIT). */
const EMBEDDED_MODEL = join(ROOT, MAIN_JOB_FILES.model);
/** Its default task: short stories told from a record (see data/pet-stories/README.md). */
const EMBEDDED_TRAIN = join(ROOT, MAIN_JOB_FILES.train);
const EMBEDDED_DEV = join(ROOT, MAIN_JOB_FILES.dev);
/** With --model and no --data: the embedded E2E subset. */
const E2E_TRAIN = join(ROOT, "data/e2e-small/train.csv");
const E2E_DEV = join(ROOT, "data/e2e-small/dev.csv");
const D = DEFAULT_TRAIN_OPTIONS;
const EMBEDDED_DEFAULTS_PATIENCE = MAIN_JOB_PATIENCE;
const EMBEDDED_DEFAULTS: Partial<TrainOptions> = MAIN_JOB_OPTIONS;
/** Held-out inputs shown before and after training. */
const SAMPLES = 3;
/** Held-out inputs generated at each evaluation. */
const EVAL_LIMIT = 200;

const EXAMPLE = "deno task train --model tests/fixtures/gpt2-text " +
  "--data data/e2e-small/train.csv " +
  "--steps 20 --batch 4 --max-len 118 --out runs/e2e-small";

const SPEC: CliSpec = {
  usage: "deno task train [--model DIR] [--data FILE] [options]",
  description: [
    "Train a prefix (prefix tuning with residual reparameterization and per-token gates)",
    "for a frozen GPT-2 or Llama-family model, on ONNX Runtime (native or WASM) or WebGPU",
    "(--backend). Every --eval-every steps the run generates greedily for the held-out",
    "inputs and scores them with the task's metric (the share of records told exactly when",
    "the data has a slots.json, BLEU for other text, accuracy or F1 for GLUE); the best",
    "prefix is the one exported, and --patience stops a run that no longer improves. A run",
    "that ends worse than it started, or never beats the base model, says so and exits 1.",
    "Writes metrics.jsonl, loss.svg, metric.svg, gates.svg, checkpoint/, summary.json and",
    "<task>.prefix.zip into --out, then shows held-out inputs continued without and with",
    "the prefix.",
    "",
    "With no arguments it trains the embedded stories260K on data/pet-stories (short",
    `stories told from a record): P=${EMBEDDED_DEFAULTS.prefixLen}, up to ${EMBEDDED_DEFAULTS.steps} steps, about 80 s on a 2-core CPU.`,
    "With --model, defaults follow Li & Liang's E2E setup (P=10, mid 512, lr 8e-5,",
    "batch 10, 5 epochs) with --reparam residual and the gate on, and without --data it",
    "trains on the embedded E2E subset (data/e2e-small, CC BY-SA 4.0).",
    "",
    `Example: ${EXAMPLE}`,
  ].join("\n"),
  options: {
    model: {
      type: "string",
      valueName: "DIR",
      description:
        "Base model folder (HF layout with model.safetensors and tokenizer.json; GPT-2 or Llama). Default: models/stories260K",
    },
    data: {
      type: "string",
      valueName: "FILE",
      description:
        "Training data: .jsonl {input,output}, E2E .csv, or GLUE .tsv (default: data/pet-stories/train.jsonl, or data/e2e-small/train.csv with --model)",
    },
    eval: {
      type: "string",
      valueName: "FILE",
      description:
        "Held-out data for the dev loss, the dev metric and the before/after samples (default: the dev file beside the embedded data)",
    },
    samples: {
      type: "string",
      valueName: "N",
      description:
        `Held-out inputs to show before and after training, 0 = none (default ${SAMPLES})`,
    },
    format: {
      type: "string",
      valueName: "NAME",
      description: `Data format when the file name does not tell: ${DATA_FORMATS.join(", ")}`,
    },
    "prefix-len": {
      type: "string",
      valueName: "P",
      description:
        `Prefix tokens (default ${D.prefixLen}; the main job: ${EMBEDDED_DEFAULTS.prefixLen})`,
    },
    reparam: {
      type: "string",
      valueName: "KIND",
      description: `Reparameterization: none, mlp or residual (default ${D.reparam})`,
    },
    gate: { type: "boolean", description: "Learn a per-token gate (default: on)" },
    "no-gate": { type: "boolean", description: "Train without the gate" },
    "mid-dim": {
      type: "string",
      valueName: "M",
      description: `MLP hidden width (default ${D.midDim})`,
    },
    lr: {
      type: "string",
      valueName: "LR",
      description: `Peak learning rate (default ${D.lr.toExponential()})`,
    },
    epochs: { type: "string", valueName: "N", description: `Epochs (default ${D.epochs})` },
    steps: {
      type: "string",
      valueName: "N",
      description:
        `Optimizer steps, overrides --epochs (the main job: ${EMBEDDED_DEFAULTS.steps}, fewer when it stops early)`,
    },
    batch: {
      type: "string",
      valueName: "B",
      description: `Rows per micro-batch (default ${D.batchSize})`,
    },
    "grad-accum": {
      type: "string",
      valueName: "N",
      description: `Micro-batches per optimizer step (default ${D.gradAccum})`,
    },
    "max-len": {
      type: "string",
      valueName: "T",
      description:
        `Longest example in tokens; longer ones are skipped (default min(${D.maxLen}, positions - P))`,
    },
    "warmup-steps": {
      type: "string",
      valueName: "N",
      description: `Linear warmup steps, then linear decay to 0 (default ${D.warmupSteps})`,
    },
    "weight-decay": {
      type: "string",
      valueName: "W",
      description: `AdamW weight decay (default ${D.weightDecay})`,
    },
    "max-grad-norm": {
      type: "string",
      valueName: "N",
      description: `Gradient-norm clipping, 0 = off (default ${D.maxGradNorm})`,
    },
    seed: {
      type: "string",
      valueName: "S",
      description: `Seed of init and data order (default ${D.seed})`,
    },
    "log-every": {
      type: "string",
      valueName: "N",
      description: `Metrics line every N steps (default ${D.logEvery})`,
    },
    "eval-every": {
      type: "string",
      valueName: "N",
      description:
        `Dev loss and dev metric every N steps, 0 = only before the first step and at the end (default ${D.evalEvery}; the main job: ${EMBEDDED_DEFAULTS.evalEvery})`,
    },
    patience: {
      type: "string",
      valueName: "N",
      description:
        `Stop after N evaluations in a row without a better prefix, 0 = never (default ${D.patience}; the main job: ${EMBEDDED_DEFAULTS_PATIENCE})`,
    },
    "eval-limit": {
      type: "string",
      valueName: "N",
      description:
        `Held-out inputs generated and scored at each evaluation (default ${EVAL_LIMIT})`,
    },
    "checkpoint-every": {
      type: "string",
      valueName: "N",
      description: `Checkpoint every N steps, 0 = only at the end (default ${D.checkpointEvery})`,
    },
    "max-bad-steps": {
      type: "string",
      valueName: "N",
      description: `Stop after N non-finite steps in a row (default ${D.maxBadSteps})`,
    },
    backend: {
      type: "string",
      valueName: "NAME",
      description:
        "Where steps run: webgpu, native (onnxruntime-node), wasm (onnxruntime-web) or auto (default: webgpu on a hardware GPU, else native, else wasm). A resumed run may switch backends",
    },
    resume: {
      type: "string",
      valueName: "DIR",
      description:
        "Resume from a run folder (or its checkpoint/): the run's recorded model, data and options are reused, so --resume DIR alone continues it",
    },
    "task-name": {
      type: "string",
      valueName: "NAME",
      description:
        "Task name, and the bundle's file name <task>.prefix.zip: a-z, 0-9, '.', '_', '-' (default: from the data path)",
    },
    out: {
      type: "string",
      valueName: "DIR",
      description:
        "Output folder (default runs/<task-name>, or runs/<task-name>-2, -3, ... when that one holds an earlier run)",
    },
    overwrite: {
      type: "boolean",
      description:
        "Replace the run already in --out (its bundle, checkpoint, metrics and plots); without it such a folder is refused",
    },
    dtype: {
      type: "string",
      valueName: "DTYPE",
      description: "Stored dtype of the exported bundle: F32, F16 or I8, any case (default F16)",
    },
    publish: {
      type: "string",
      valueName: "STORE",
      description:
        "When the run ends well, publish its bundle: to a bundle store that servers read (a folder, or s3://BUCKET/PREFIX with the AWS_* variables) or to a running server's URL (with --publish-token-file). Checked before training; not recorded for --resume",
    },
    "publish-token-file": {
      type: "string",
      valueName: "FILE",
      description: "File holding the admin token of the server --publish names",
    },
  },
};

/** `train.csv` in `e2e-small/` -> `e2e-small`; `sst2.jsonl` -> `sst2`. */
function taskNameFrom(path: string): string {
  const stem = basename(path, extname(path));
  const name = /^(train|dev|test|trainset|devset)$/i.test(stem) ? basename(dirname(path)) : stem;
  // Fit validateTaskName: allowed characters, a letter or digit first, no "..", 64 at most.
  return name.toLowerCase().replace(/[^a-z0-9._-]+/g, "-").replace(/\.{2,}/g, ".")
    .replace(/^[^a-z0-9]+/, "").slice(0, 64).replace(/[-.]+$/, "") || "task";
}

/** The run's own arguments, written beside its checkpoint so that `--resume DIR` alone continues it. */
const RUN_ARGS_FILE = "train-args.json";
/** Flags that are about this invocation, not the run. */
const NOT_RECORDED = new Set(["help", "resume", "overwrite", "publish", "publish-token-file"]);
/** Flags naming files, recorded as absolute paths so a resume works from any folder. */
const PATH_FLAGS = ["model", "data", "eval", "out"];

/**
 * Fill the flags not given now from the arguments the run was started with, when resuming.
 * `resume` may be the run folder or its checkpoint/ folder.
 */
async function withRecordedArgs(v: CliValues): Promise<CliValues> {
  if (typeof v.resume !== "string") return v;
  if (v.overwrite) {
    throw new UsageError(
      "Cannot parse arguments: --resume continues a run and --overwrite replaces one; pass one",
    );
  }
  // Before anything loads: a folder with no checkpoint is nothing to resume.
  const found = await Promise.all(
    [v.resume, join(v.resume, "checkpoint")].map((d) => isFile(join(d, "checkpoint.json"))),
  );
  if (!found.some((f) => f)) {
    throw new PrefixEdgeError(
      "FILE_NOT_FOUND",
      `Cannot resume from ${v.resume}: no checkpoint.json there or in ${
        join(v.resume, "checkpoint")
      }`,
    );
  }
  for (const dir of [v.resume, dirname(v.resume)]) {
    let recorded: { args?: CliValues };
    try {
      recorded = JSON.parse(await Deno.readTextFile(join(dir, RUN_ARGS_FILE)));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue;
      throw new PrefixEdgeError(
        "INVALID_INPUT",
        `Cannot resume from ${v.resume}: ${join(dir, RUN_ARGS_FILE)} is unreadable (${
          (e as Error).message
        })`,
      );
    }
    const merged: CliValues = { ...recorded.args };
    for (const [k, val] of Object.entries(v)) if (val !== undefined) merged[k] = val;
    // A run resumes where it is, unless --out moves it.
    if (v.out === undefined) merged.out = dir;
    return merged;
  }
  return v; // A checkpoint from before run arguments were recorded: flags as given.
}

/** The files a run writes into its folder: what `--overwrite` replaces and what marks a run. */
const RUN_FILES = [
  RUN_ARGS_FILE,
  "metrics.jsonl",
  "summary.json",
  "loss.svg",
  "metric.svg",
  "gates.svg",
  "checkpoint",
];

/** Whether a folder holds (part of) a training run. */
async function holdsRun(dir: string): Promise<boolean> {
  for (const f of RUN_FILES) if (await exists(join(dir, f))) return true;
  try {
    for await (const e of Deno.readDir(dir)) if (e.name.endsWith(".prefix.zip")) return true;
  } catch {
    return false;
  }
  return false;
}

/**
 * Where a new run goes without destroying an earlier one: the folder asked for when it holds no
 * run; with `--overwrite`, that folder with the earlier run's files removed; with the default
 * folder, the first free `<folder>-2`, `-3`, ...; and an explicit --out holding a run is refused.
 */
async function freshRunDir(
  outDir: string,
  opts: { explicit: boolean; overwrite: boolean },
): Promise<string> {
  if (!(await holdsRun(outDir))) return outDir;
  if (opts.overwrite) {
    for await (const e of Deno.readDir(outDir)) {
      if (RUN_FILES.includes(e.name) || e.name.endsWith(".prefix.zip")) {
        await Deno.remove(join(outDir, e.name), { recursive: true });
      }
    }
    console.error(`out: replacing the earlier run in ${outDir} (--overwrite)`);
    return outDir;
  }
  if (opts.explicit) {
    throw new UsageError(
      `Cannot write the run to ${outDir}: it holds an earlier run; continue it with --resume ${outDir}, replace it with --overwrite, or pass another --out`,
    );
  }
  for (let i = 2;; i++) {
    const next = `${outDir}-${i}`;
    if (!(await holdsRun(next))) {
      console.error(
        `out: ${outDir} holds an earlier run, so this one goes to ${next} (--overwrite replaces the earlier one; deno task serve serves it as "${
          basename(next)
        }")`,
      );
      return next;
    }
  }
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

async function isFile(path: string): Promise<boolean> {
  return await Deno.stat(path).then((s) => s.isFile, () => false);
}

async function recordArgs(v: CliValues, outDir: string): Promise<void> {
  const args: CliValues = {};
  for (const [k, val] of Object.entries(v)) {
    if (val === undefined || NOT_RECORDED.has(k)) continue;
    args[k] = PATH_FLAGS.includes(k) && typeof val === "string" ? resolve(val) : val;
  }
  await Deno.mkdir(outDir, { recursive: true });
  await Deno.writeTextFile(
    join(outDir, RUN_ARGS_FILE),
    JSON.stringify({ format: "prefix-edge.train-args", version: 1, args }, null, 2) + "\n",
  );
}

async function main(): Promise<void> {
  const parsed = parseCli(SPEC, Deno.args);
  if (!parsed) return;
  const v = await withRecordedArgs(parsed);
  // The main job: no --model means the embedded model, and with no --data its task.
  const embeddedModel = v.model === undefined;
  const embeddedTask = embeddedModel && v.data === undefined;
  if (v.gate && v["no-gate"]) {
    throw new UsageError("Cannot parse arguments: --gate and --no-gate both given");
  }
  if (typeof v["task-name"] === "string") validateTaskName(v["task-name"]);
  const reparam = v.reparam as string | undefined;
  if (reparam !== undefined && !(REPARAMS as readonly string[]).includes(reparam)) {
    throw new UsageError(`Cannot parse --reparam: "${reparam}" is not none, mlp or residual`);
  }
  const format = v.format as DataFormat | undefined;
  if (format !== undefined && !DATA_FORMATS.includes(format)) {
    throw new UsageError(
      `Cannot parse --format: "${format}" is not one of ${DATA_FORMATS.join(", ")}`,
    );
  }

  const dtype = (v.dtype as string | undefined)?.toUpperCase() as BundleDtype | undefined;
  if (dtype !== undefined && !BUNDLE_DTYPES.includes(dtype)) {
    throw new UsageError(`Cannot parse --dtype: "${v.dtype}" is not F32, F16 or I8`);
  }
  const backend = v.backend as TrainingBackend | "auto" | undefined;
  if (backend !== undefined && ![...TRAINING_BACKENDS, "auto"].includes(backend)) {
    throw new UsageError(
      `Cannot parse --backend: "${backend}" is not webgpu, native, wasm or auto`,
    );
  }

  const samples = numberOption(v, "samples", "int") ?? SAMPLES;
  // Checked before anything is trained: a wrong key, bucket or token fails now, not in an hour.
  const publishTo = await publishTarget(v);
  const model = await loadModel((v.model as string | undefined) ?? EMBEDDED_MODEL);
  assertTrainable(model.config);
  model.requireTokenizer();

  const dataPath = (v.data as string | undefined) ??
    (embeddedModel ? EMBEDDED_TRAIN : E2E_TRAIN);
  const evalPath = (v.eval as string | undefined) ??
    (v.data === undefined ? (embeddedModel ? EMBEDDED_DEV : E2E_DEV) : undefined);
  const defaults = embeddedTask ? EMBEDDED_DEFAULTS : {};
  const prefixLen = numberOption(v, "prefix-len", "int") ?? defaults.prefixLen ?? D.prefixLen;
  const given: Partial<TrainOptions> = {
    prefixLen,
    reparam: reparam as Reparam | undefined,
    gate: v["no-gate"] ? false : undefined,
    midDim: numberOption(v, "mid-dim", "int"),
    lr: numberOption(v, "lr"),
    epochs: numberOption(v, "epochs", "int"),
    steps: numberOption(v, "steps", "int"),
    batchSize: numberOption(v, "batch", "int"),
    gradAccum: numberOption(v, "grad-accum", "int"),
    maxLen: numberOption(v, "max-len", "int") ?? defaults.maxLen ??
      Math.max(2, Math.min(D.maxLen, model.config.maxPositions - prefixLen)),
    warmupSteps: numberOption(v, "warmup-steps", "int"),
    weightDecay: numberOption(v, "weight-decay"),
    maxGradNorm: numberOption(v, "max-grad-norm"),
    seed: numberOption(v, "seed", "int"),
    logEvery: numberOption(v, "log-every", "int"),
    evalEvery: numberOption(v, "eval-every", "int"),
    patience: numberOption(v, "patience", "int"),
    checkpointEvery: numberOption(v, "checkpoint-every", "int"),
    maxBadSteps: numberOption(v, "max-bad-steps", "int"),
  };
  // A flag wins over the main job's defaults; --epochs replaces its step count.
  const partial: Partial<TrainOptions> = { ...defaults };
  if (given.epochs !== undefined) delete partial.steps;
  for (const [k, val] of Object.entries(given)) {
    if (val !== undefined) (partial as Record<string, unknown>)[k] = val;
  }
  const options = resolveTrainOptions(partial, { name: (k) => FLAG_OF[k] });
  checkContext(model.config, options.prefixLen, options.maxLen);

  const taskName = (v["task-name"] as string | undefined) ?? taskNameFrom(dataPath);
  const resuming = typeof v.resume === "string";
  const askedOut = (v.out as string | undefined) ?? join("runs", taskName);
  const outDir = resuming ? askedOut : await freshRunDir(askedOut, {
    explicit: parsed.out !== undefined,
    overwrite: v.overwrite === true,
  });
  const trainSet = await prepareDataset(model, dataPath, { maxLen: options.maxLen, format });
  const devSet = evalPath
    ? await prepareDataset(model, evalPath, { maxLen: options.maxLen, format })
    : null;
  const cfg = model.config;
  console.error(
    `model: ${model.paths.dir}${
      embeddedModel ? " (the embedded default)" : ""
    }: ${cfg.modelType}, ` +
      `${cfg.numLayers} layers, d=${cfg.hiddenSize}, heads ${cfg.numHeads}/${cfg.numKvHeads} kv, vocab ${cfg.vocabSize}`,
  );
  for (const ds of devSet ? [trainSet, devSet] : [trainSet]) {
    console.error(
      `data: ${ds.source} (${ds.format}): ${plural(ds.examples.length, "example")}, ${
        plural(ds.targetTokens, "target token")
      }` +
        (ds.dropped ? `, ${ds.dropped} longer than --max-len ${options.maxLen} skipped` : ""),
    );
  }
  console.error(
    `train: task "${taskName}", P=${options.prefixLen} reparam=${options.reparam} gate=${
      options.gate ? "on" : "off"
    }${
      options.reparam === "none" ? "" : ` mid=${options.midDim}`
    } lr=${options.lr} batch=${options.batchSize}x${options.gradAccum} ` +
      (options.steps !== undefined ? `steps=${options.steps}` : `epochs=${options.epochs}`) +
      ` seed=${options.seed} -> ${outDir}`,
  );

  const resume = v.resume as string | undefined;
  await recordArgs({ ...v, out: outDir }, outDir);
  // The run judges itself by what it generates on the dev data, when the model can generate.
  const held = evalPath ? await loadExamples(evalPath, format) : null;
  const usage = taskUsage(trainSet);
  let devMetric: GenerationDevMetric | undefined;
  if (held && model.paths.onnx) {
    const evalLimit = numberOption(v, "eval-limit", "int", 1) ?? EVAL_LIMIT;
    devMetric = await generationDevMetric(model, held, {
      limit: evalLimit,
      maxNewTokens: usage.generation.maxNewTokens,
      eosTokenIds: usage.generation.eosTokenIds,
    });
    console.error(
      `eval: every ${options.evalEvery || "(end only)"} steps, greedy generations on ${
        Math.min(held.examples.length, evalLimit)
      } held-out inputs (${devMetric.executionProvider}), scored by ${devMetric.name}; ` +
        `the best prefix is kept${
          options.patience > 0 ? `, stopping after ${options.patience} without a better one` : ""
        }`,
    );
  } else if (held) {
    console.error(
      `eval: dev loss only (${model.paths.dir} has no onnx/model.onnx to generate with; deno task export-onnx makes it)`,
    );
  }
  const stopOnInterrupt = interruptHandler(outDir, resume);
  let result: Awaited<ReturnType<typeof train>>;
  try {
    result = await train(model, { train: trainSet, dev: devSet }, {
      ...options,
      outDir,
      taskName,
      resume,
      exportDtype: dtype,
      backend,
    }, devMetric ? { devMetric } : {});
  } finally {
    stopOnInterrupt();
    await devMetric?.dispose();
  }
  const f = (x: number | null) => x === null ? "n/a" : x.toFixed(4);
  const m = result.metric;
  const score = (s: Record<string, number> | null) => m && s ? formatScore(s[m]) : "n/a";
  const best = result.best;
  console.log(
    [
      `done: ${plural(result.steps, "step")} (${result.epochs.toFixed(2)} epochs)` +
      (result.stoppedEarly ? ", stopped early" : "") +
      (result.resumedFrom !== null ? `, resumed from step ${result.resumedFrom}` : ""),
      `  train loss (last window): ${f(result.finalLoss)} (backend ${result.backend})`,
      devSet
        ? `  dev loss: ${f(result.initialDevLoss)} -> ${f(result.devLoss)}`
        : "  dev loss: none (no --eval data)",
      ...(m
        ? [
          `  dev ${m}: base model ${score(result.baseScores)}, untrained prefix ${
            score(result.initialScores)
          } -> best ${score(best?.scores ?? null)} (step ${best?.step})` +
          (best?.scores?.bleu !== undefined && m !== "bleu"
            ? `, BLEU ${formatScore(best.scores.bleu)}`
            : ""),
        ]
        : []),
      ...(best && best.step !== result.steps
        ? [`  kept: the prefix of step ${best.step}, the best evaluated one`]
        : []),
      `  gates: ${result.gates.map((g) => g.toFixed(3)).join(" ")}`,
      `  bundle: ${
        result.bundleWritten
          ? result.files.export.path
          : `not written (${result.files.export.path} from an earlier run is kept)`
      }`,
      `  metrics: ${result.files.metrics}`,
      `  plots: ${
        [result.files.lossPlot, result.files.metricPlot, result.files.gatesPlot].filter((p) => p)
          .join(", ")
      }`,
      `  checkpoint: ${result.files.checkpoint}`,
    ].join("\n"),
  );
  if (samples > 0 && held) await showSamples(model, held, samples, result, usage.generation);
  if (!result.verdict.ok) {
    for (const problem of result.verdict.problems) console.error(`warning: ${problem}`);
    throw new PrefixEdgeError(
      "TRAINING_FAILED",
      `The run did not learn its task: ${result.verdict.problems.join("; ")}. ${
        result.bundleWritten
          ? `The bundle holds the best evaluated prefix (step ${best?.step ?? result.steps}).`
          : "No bundle was written over the earlier one."
      }${
        publishTo ? ` Nothing was published to ${publishTo.location}.` : ""
      } Try a lower --lr, more --steps, or check the data`,
    );
  }
  const serveWith = (bundles: string) =>
    `deno task serve${embeddedModel ? "" : ` --model ${model.paths.dir}`} --bundles ${bundles}`;
  if (publishTo && result.bundleWritten) {
    await publish(publishTo, taskName, result.files.export.path);
    console.log(
      publishTo.server
        ? `\nnext: ask it at ${publishTo.location}/v1/tasks/${taskName}/generate`
        : `\nnext: servers on ${publishTo.location} serve it (within their --revalidate-s); a new one with\n  ${
          serveWith(publishTo.location)
        }`,
    );
    return;
  }
  if (publishTo) {
    console.error(`publish: skipped (this run wrote no bundle over the earlier one)`);
  }
  console.log(`\nnext: serve it with\n  ${serveWith(dirname(result.files.export.path))}`);
}

/** Open and check `--publish`'s target, or null without the flag. */
async function publishTarget(v: CliValues): Promise<PublishTarget | null> {
  const spec = v.publish as string | undefined;
  const tokenFile = v["publish-token-file"] as string | undefined;
  if (spec === undefined) {
    if (tokenFile !== undefined) {
      throw new UsageError("Cannot use --publish-token-file without --publish URL");
    }
    return null;
  }
  const token = tokenFile === undefined
    ? undefined
    : await readTokenFile(tokenFile, "--publish-token-file");
  const target = openPublishTarget(spec, { token });
  await target.check();
  console.error(`publish: to ${target.location} when the run ends well (checked)`);
  return target;
}

/**
 * Publish the run's bundle. A failure leaves the bundle where it is and says how to publish it
 * later.
 */
async function publish(target: PublishTarget, task: string, path: string): Promise<void> {
  try {
    const said = await target.publish(task, await Deno.readFile(path));
    console.log(`published: ${said}`);
  } catch (e) {
    const err = e as PrefixEdgeError;
    const later = target.server
      ? `examples/upload_bundle.ts --url ${target.location} --file ${path}`
      : `deno task bundle push ${path} --store ${target.location}`;
    throw new PrefixEdgeError(
      err.code ?? "INTERNAL_ERROR",
      `${err.message}. The bundle is kept at ${path}; publish it later with ${later}`,
      { cause: e },
    );
  }
}

/** The before/after comparison on the first held-out inputs (needs the model's ONNX export). */
async function showSamples(
  model: Awaited<ReturnType<typeof loadModel>>,
  held: LoadedExamples,
  n: number,
  result: Awaited<ReturnType<typeof train>>,
  generation: BundleGeneration,
): Promise<void> {
  if (!model.paths.onnx) {
    console.error(`samples: skipped (${model.paths.dir} has no onnx/model.onnx to generate with)`);
    return;
  }
  console.error(
    `\nsamples: ${
      Math.min(n, held.examples.length)
    } held-out inputs, greedy, before -> after training`,
  );
  const shown = await beforeAfter(
    model,
    held.examples.slice(0, n),
    held.separator,
    result.prefixModule.fold(),
    generation,
  );
  console.log(`\n${formatBeforeAfter(shown)}`);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/**
 * On Ctrl-C, say where the run can continue from, then exit 130. A
 * checkpoint counts only if this process wrote it (an older run may have left
 * one in the same folder), or if the run itself resumed from one.
 *
 * @param outDir the run's output folder
 * @param resumedFrom the `--resume` folder, if any
 * @returns a function that removes the handler
 */
function interruptHandler(outDir: string, resumedFrom: string | undefined): () => void {
  const startedAt = Date.now();
  const onInterrupt = () => {
    let message: string;
    let state: { step?: number; totalSteps?: number; savedAt?: string } | null = null;
    try {
      state = JSON.parse(Deno.readTextFileSync(join(outDir, "checkpoint", "checkpoint.json")));
    } catch {
      state = null;
    }
    if (state && Date.parse(state.savedAt ?? "") >= startedAt - 1000) {
      message = `interrupted; the last checkpoint is step ${state.step} of ${state.totalSteps} ` +
        `in ${join(outDir, "checkpoint")}. To continue, run: deno task train --resume ${outDir}`;
    } else if (resumedFrom !== undefined) {
      message =
        `interrupted before a new checkpoint; to continue, run: deno task train --resume ${resumedFrom} ` +
        `(it resumes from that checkpoint)`;
    } else {
      message = "interrupted before the first checkpoint; nothing to resume " +
        "(--checkpoint-every sets how often checkpoints are written)";
    }
    // Start on a fresh line: the progress bar may be mid-line on a terminal.
    Deno.stderr.writeSync(new TextEncoder().encode(`\n${message}\n`));
    Deno.exit(130);
  };
  try {
    Deno.addSignalListener("SIGINT", onInterrupt);
  } catch {
    return () => {}; // Signals are not supported here; Ctrl-C just stops the process.
  }
  return () => Deno.removeSignalListener("SIGINT", onInterrupt);
}

if (import.meta.main) await runCli(main);
