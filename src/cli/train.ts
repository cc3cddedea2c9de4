/**
 * `deno task train`: train a prefix for a frozen base model on WebGPU and
 * export it for serving. See docs/training.md.
 *
 * @module
 */
import { basename, dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BundleDtype } from "../bundle/mod.ts";
import { PrefixEdgeError } from "../errors/mod.ts";
import { loadModel } from "../model/mod.ts";
import {
  checkContext,
  checkTaskName,
  DATA_FORMATS,
  type DataFormat,
  DEFAULT_TRAIN_OPTIONS,
  prepareDataset,
  resolveTrainOptions,
  train,
  type TrainOptions,
} from "../train/mod.ts";
import type { Reparam } from "../prefix/mod.ts";
import { type CliSpec, numberOption, parseCli, runCli, UsageError } from "./_args.ts";

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
  checkpointEvery: "--checkpoint-every",
  maxBadSteps: "--max-bad-steps",
};

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const EMBEDDED_TRAIN = join(ROOT, "data/e2e-small/train.csv");
const EMBEDDED_DEV = join(ROOT, "data/e2e-small/dev.csv");
const D = DEFAULT_TRAIN_OPTIONS;

const EXAMPLE = "deno task train --model ../shared/fixtures/gpt2-tok " +
  "--data data/e2e-small/train.csv --eval data/e2e-small/dev.csv " +
  "--steps 20 --batch 4 --max-len 64 --out runs/e2e-small";

const SPEC: CliSpec = {
  usage: "deno task train --model DIR [--data FILE] [options]",
  description: [
    "Train a prefix (prefix tuning with residual reparameterization and per-token gates)",
    "for a frozen GPT-2 model on WebGPU. Writes metrics.jsonl, loss.svg, gates.svg,",
    "checkpoint/, summary.json and the folded prefix as <task>.prefix.zip into --out.",
    "Defaults follow Li & Liang's E2E setup (P=10, mid 512, lr 8e-5, batch 10, 5 epochs)",
    "with --reparam residual and the gate on. Without --data it trains on the embedded",
    "E2E subset (data/e2e-small, CC BY-SA 4.0).",
    "",
    `Example: ${EXAMPLE}`,
  ].join("\n"),
  options: {
    model: {
      type: "string",
      valueName: "DIR",
      description:
        "Base model folder (HF layout with model.safetensors and tokenizer.json). Required for now",
    },
    data: {
      type: "string",
      valueName: "FILE",
      description:
        "Training data: .jsonl {input,output}, E2E .csv, or GLUE .tsv (default: data/e2e-small/train.csv)",
    },
    eval: {
      type: "string",
      valueName: "FILE",
      description:
        "Dev data for the dev loss (default with the embedded data: data/e2e-small/dev.csv)",
    },
    format: {
      type: "string",
      valueName: "NAME",
      description: `Data format when the file name does not tell: ${DATA_FORMATS.join(", ")}`,
    },
    "prefix-len": {
      type: "string",
      valueName: "P",
      description: `Prefix tokens (default ${D.prefixLen})`,
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
    steps: { type: "string", valueName: "N", description: "Optimizer steps (overrides --epochs)" },
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
        `Dev loss every N steps, 0 = only before the first step and at the end (default ${D.evalEvery})`,
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
    resume: {
      type: "string",
      valueName: "DIR",
      description: "Resume from a checkpoint folder, or a run folder holding checkpoint/",
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
      description: "Output folder (default runs/<task-name>)",
    },
    dtype: {
      type: "string",
      valueName: "DTYPE",
      description: "Stored dtype of the exported bundle: F32, F16 or I8, any case (default F16)",
    },
  },
};

/** `train.csv` in `e2e-small/` -> `e2e-small`; `sst2.jsonl` -> `sst2`. */
function taskNameFrom(path: string): string {
  const stem = basename(path, extname(path));
  const name = /^(train|dev|test|trainset|devset)$/i.test(stem) ? basename(dirname(path)) : stem;
  // Fit checkTaskName: allowed characters, a letter or digit first, no "..", 64 at most.
  return name.toLowerCase().replace(/[^a-z0-9._-]+/g, "-").replace(/\.{2,}/g, ".")
    .replace(/^[^a-z0-9]+/, "").slice(0, 64).replace(/[-.]+$/, "") || "task";
}

function needsModel(): never {
  throw new PrefixEdgeError(
    "INVALID_INPUT",
    [
      "Cannot train without --model: the embedded default model (models/stories260K) is a Llama,",
      "and Llama training is not supported yet. Pass a GPT-2 model folder with model.safetensors",
      "and tokenizer.json, for example:",
      `  ${EXAMPLE}`,
      "(see examples/train_e2e.sh and docs/training.md)",
    ].join("\n"),
  );
}

async function main(): Promise<void> {
  const v = parseCli(SPEC, Deno.args);
  if (!v) return;
  if (typeof v.model !== "string") needsModel();
  if (v.gate && v["no-gate"]) {
    throw new UsageError("Cannot parse arguments: --gate and --no-gate both given");
  }
  if (typeof v["task-name"] === "string") checkTaskName(v["task-name"]);
  const reparam = v.reparam as string | undefined;
  if (reparam !== undefined && !["none", "mlp", "residual"].includes(reparam)) {
    throw new UsageError(`Cannot parse --reparam: "${reparam}" is not none, mlp or residual`);
  }
  const format = v.format as DataFormat | undefined;
  if (format !== undefined && !DATA_FORMATS.includes(format)) {
    throw new UsageError(
      `Cannot parse --format: "${format}" is not one of ${DATA_FORMATS.join(", ")}`,
    );
  }

  const dtype = (v.dtype as string | undefined)?.toUpperCase() as BundleDtype | undefined;
  if (dtype !== undefined && !["F32", "F16", "I8"].includes(dtype)) {
    throw new UsageError(`Cannot parse --dtype: "${v.dtype}" is not F32, F16 or I8`);
  }

  const model = await loadModel(v.model as string);
  if (model.config.family !== "gpt2") {
    throw new PrefixEdgeError(
      "UNSUPPORTED_MODEL",
      `Cannot train on ${model.paths.dir}: it is a ${model.config.family} model and training supports GPT-2 for now. Example:\n  ${EXAMPLE}`,
    );
  }
  model.requireTokenizer();

  const dataPath = (v.data as string | undefined) ?? EMBEDDED_TRAIN;
  const evalPath = (v.eval as string | undefined) ??
    (v.data === undefined ? EMBEDDED_DEV : undefined);
  const prefixLen = numberOption(v, "prefix-len", "int") ?? D.prefixLen;
  const partial: Partial<TrainOptions> = {
    prefixLen,
    reparam: reparam as Reparam | undefined,
    gate: v["no-gate"] ? false : undefined,
    midDim: numberOption(v, "mid-dim", "int"),
    lr: numberOption(v, "lr"),
    epochs: numberOption(v, "epochs", "int"),
    steps: numberOption(v, "steps", "int"),
    batchSize: numberOption(v, "batch", "int"),
    gradAccum: numberOption(v, "grad-accum", "int"),
    maxLen: numberOption(v, "max-len", "int") ??
      Math.max(2, Math.min(D.maxLen, model.config.maxPositions - prefixLen)),
    warmupSteps: numberOption(v, "warmup-steps", "int"),
    weightDecay: numberOption(v, "weight-decay"),
    maxGradNorm: numberOption(v, "max-grad-norm"),
    seed: numberOption(v, "seed", "int"),
    logEvery: numberOption(v, "log-every", "int"),
    evalEvery: numberOption(v, "eval-every", "int"),
    checkpointEvery: numberOption(v, "checkpoint-every", "int"),
    maxBadSteps: numberOption(v, "max-bad-steps", "int"),
  };
  const options = resolveTrainOptions(partial, { name: (k) => FLAG_OF[k] });
  checkContext(model.config, options.prefixLen, options.maxLen);

  const taskName = (v["task-name"] as string | undefined) ?? taskNameFrom(dataPath);
  const outDir = (v.out as string | undefined) ?? join("runs", taskName);
  const trainSet = await prepareDataset(model, dataPath, { maxLen: options.maxLen, format });
  const devSet = evalPath
    ? await prepareDataset(model, evalPath, { maxLen: options.maxLen, format })
    : null;
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
  const stopOnInterrupt = interruptHandler(outDir, resume);
  const result = await train(model, { train: trainSet, dev: devSet }, {
    ...options,
    outDir,
    taskName,
    resume,
    exportDtype: dtype,
  }).finally(stopOnInterrupt);
  const f = (x: number | null) => x === null ? "n/a" : x.toFixed(4);
  console.log(
    [
      `done: ${plural(result.steps, "step")} (${result.epochs.toFixed(2)} epochs)` +
      (result.resumedFrom !== null ? `, resumed from step ${result.resumedFrom}` : ""),
      `  train loss (last window): ${f(result.finalLoss)}`,
      devSet
        ? `  dev loss: ${f(result.initialDevLoss)} -> ${f(result.devLoss)}`
        : "  dev loss: none (no --eval data)",
      `  gates: ${result.gates.map((g) => g.toFixed(3)).join(" ")}`,
      `  bundle: ${result.files.export.path}`,
      `  metrics: ${result.files.metrics}`,
      `  plots: ${result.files.lossPlot}${
        result.files.gatesPlot ? `, ${result.files.gatesPlot}` : ""
      }`,
      `  checkpoint: ${result.files.checkpoint}`,
    ].join("\n"),
  );
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
        `in ${
          join(outDir, "checkpoint")
        }. To continue, run the same command with --resume ${outDir}`;
    } else if (resumedFrom !== undefined) {
      message = `interrupted before a new checkpoint; to continue, run the same command again ` +
        `(it resumes from ${resumedFrom})`;
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
