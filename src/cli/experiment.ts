/**
 * `deno task experiment`: the paper's study as one command. Trains a prefix
 * for every method x prefix length x seed, evaluates each (and the base
 * model), and writes results.md/.csv, SVG plots and report.md. Rerunning
 * the same command continues a grid that was stopped.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import type { ExecutionProvider } from "../infer/mod.ts";
import {
  checkEvalTask,
  checkMethods,
  DEFAULT_PREFIX_LENGTHS,
  EVAL_TASKS,
  type MethodName,
  METHODS,
  runExperiment,
} from "../study/mod.ts";
import { DEFAULT_TRAIN_OPTIONS as D } from "../train/mod.ts";
import {
  type CliSpec,
  type CliValues,
  numberOption,
  parseCli,
  runCli,
  UsageError,
} from "./_args.ts";

const SPEC: CliSpec = {
  usage:
    "deno task experiment --train FILE --dev FILE --out DIR [--model DIR] [--methods LIST] [--prefix-lens LIST] [--seeds LIST] [options]",
  description:
    "Run the study: train a prefix for every method x prefix length x seed with the SDK's training\n" +
    "loop, evaluate each run and the base model, and write results.md, results.csv, plots/*.svg and\n" +
    "report.md to --out. Rerun the same command to continue a grid that was stopped; finished runs\n" +
    "are reused, a run stopped mid-training resumes from its checkpoint.",
  options: {
    model: {
      type: "string",
      valueName: "DIR",
      description: "base model folder (default: models/stories260K)",
    },
    train: { type: "string", valueName: "FILE", description: "training data (.csv, .tsv, .jsonl)" },
    dev: {
      type: "string",
      valueName: "FILE",
      description: "dev data: dev loss during training, and the metrics unless --test is given",
    },
    test: {
      type: "string",
      valueName: "FILE",
      description: "data the metrics are computed on (default: --dev)",
    },
    task: {
      type: "string",
      valueName: "TASK",
      description: `${EVAL_TASKS.join(" | ")} (default: from the training file)`,
    },
    methods: {
      type: "string",
      valueName: "LIST",
      description: `comma-separated methods (default: ${METHODS.join(",")})`,
    },
    "prefix-lens": {
      type: "string",
      valueName: "LIST",
      description: `comma-separated prefix lengths (default: ${DEFAULT_PREFIX_LENGTHS.join(",")})`,
    },
    seeds: {
      type: "string",
      valueName: "LIST",
      description: "comma-separated seeds (default: 1,2,3)",
    },
    epochs: { type: "string", valueName: "N", description: `epochs per run (default ${D.epochs})` },
    steps: {
      type: "string",
      valueName: "N",
      description: "optimizer steps per run (overrides --epochs)",
    },
    batch: {
      type: "string",
      valueName: "N",
      description: `rows per batch (default ${D.batchSize})`,
    },
    "grad-accum": {
      type: "string",
      valueName: "N",
      description: "micro-batches per step (default 1)",
    },
    lr: { type: "string", valueName: "LR", description: `peak learning rate (default ${D.lr})` },
    "warmup-steps": {
      type: "string",
      valueName: "N",
      description: "linear warmup steps (default 0)",
    },
    "mid-dim": {
      type: "string",
      valueName: "N",
      description: `reparameterization MLP width (default ${D.midDim})`,
    },
    "max-len": {
      type: "string",
      valueName: "N",
      description:
        "longest example in tokens (default: the context left after the longest prefix, at most 512)",
    },
    "eval-every": {
      type: "string",
      valueName: "N",
      description: "dev loss every N steps (default: about 20 times per run)",
    },
    "num-beams": {
      type: "string",
      valueName: "N",
      description: "beam width for generation (default 5)",
    },
    "max-new-tokens": {
      type: "string",
      valueName: "N",
      description: "new tokens per generation (default 64)",
    },
    limit: { type: "string", valueName: "N", description: "evaluate the first N inputs only" },
    "target-dev-loss": {
      type: "string",
      valueName: "X",
      description: "dev loss for the steps-to-target plot (default: the worst final dev loss)",
    },
    "dev-metric": {
      type: "boolean",
      description:
        "judge each cell during training by what it generates on --dev (keeps its best prefix)",
    },
    "target-metric": {
      type: "string",
      valueName: "X",
      description:
        "stop each cell once its dev metric reaches X, and report steps and seconds to it (implies --dev-metric)",
    },
    patience: {
      type: "string",
      valueName: "N",
      description: "stop a cell after N evaluations without a better prefix (with a dev metric)",
    },
    "lr-by-method": {
      type: "string",
      valueName: "M=LR,...",
      description: "a learning rate per method, over --lr (e.g. none=3e-2,residual+gate=1e-2)",
    },
    ep: {
      type: "string",
      valueName: "EP",
      description: "inference backend for evaluation: wasm | webgpu | native",
    },
    out: { type: "string", valueName: "DIR", description: "experiment folder" },
  },
};

function list(values: CliValues, name: string): string[] | undefined {
  const v = values[name];
  if (typeof v !== "string") return undefined;
  return v.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

function intList(values: CliValues, name: string): number[] | undefined {
  return list(values, name)?.map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n)) {
      throw new PrefixEdgeError(
        "INVALID_INPUT",
        `Cannot parse --${name}: "${s}" is not an integer`,
      );
    }
    return n;
  });
}

async function main(): Promise<void> {
  const values = parseCli(SPEC, Deno.args);
  if (!values) return;
  for (const name of ["train", "out"]) {
    if (typeof values[name] !== "string") {
      throw new PrefixEdgeError(
        "INVALID_INPUT",
        `Cannot run the experiment: --${name} is required`,
      );
    }
  }
  const methods = list(values, "methods");
  const result = await runExperiment({
    model: values.model as string | undefined,
    train: values.train as string,
    dev: values.dev as string | undefined,
    test: values.test as string | undefined,
    task: values.task === undefined ? undefined : checkEvalTask(values.task as string),
    methods: methods ? checkMethods(methods) : undefined,
    prefixLens: intList(values, "prefix-lens"),
    seeds: intList(values, "seeds"),
    training: {
      epochs: numberOption(values, "epochs", "int", 1),
      steps: numberOption(values, "steps", "int", 1),
      batchSize: numberOption(values, "batch", "int", 1),
      gradAccum: numberOption(values, "grad-accum", "int", 1),
      lr: numberOption(values, "lr", "float", 0),
      warmupSteps: numberOption(values, "warmup-steps", "int", 0),
      midDim: numberOption(values, "mid-dim", "int", 1),
      maxLen: numberOption(values, "max-len", "int", 2),
      evalEvery: numberOption(values, "eval-every", "int", 1),
      patience: numberOption(values, "patience", "int", 0),
    },
    lrByMethod: lrByMethod(values),
    devMetric: values["dev-metric"] === true,
    targetMetric: numberOption(values, "target-metric"),
    evaluation: {
      numBeams: numberOption(values, "num-beams", "int", 1),
      maxNewTokens: numberOption(values, "max-new-tokens", "int", 1),
      limit: numberOption(values, "limit", "int", 1),
    },
    targetDevLoss: numberOption(values, "target-dev-loss"),
    executionProvider: values.ep as ExecutionProvider | undefined,
    outDir: values.out as string,
    command: `deno task experiment ${Deno.args.map(quote).join(" ")}`,
  });
  console.log(
    `wrote ${result.files.table}\nwrote ${result.files.csv}\nwrote ${result.files.report}`,
  );
  for (const p of result.files.plots) console.log(`wrote ${p}`);
}

/** `--lr-by-method none=3e-2,mlp=1e-2` as a method -> rate map. */
function lrByMethod(values: CliValues): Partial<Record<MethodName, number>> | undefined {
  const pairs = list(values, "lr-by-method");
  if (!pairs) return undefined;
  const out: Partial<Record<MethodName, number>> = {};
  for (const pair of pairs) {
    const at = pair.lastIndexOf("=");
    const lr = Number(pair.slice(at + 1));
    if (at <= 0 || !(lr > 0)) {
      throw new UsageError(`Cannot parse --lr-by-method: "${pair}" is not METHOD=LR`);
    }
    out[checkMethods([pair.slice(0, at)])[0]] = lr;
  }
  return out;
}

/** Quote an argument for a POSIX shell when it needs it. */
function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

if (import.meta.main) await runCli(main);
