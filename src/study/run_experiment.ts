/**
 * Run the study's grid: for each method x prefix length x seed, train a
 * prefix with the SDK's training loop, evaluate it, and record the result;
 * evaluate the base model once as the baseline; then write the tables, plots
 * and report ({@link writeExperimentReport}).
 *
 * Every finished cell leaves `runs/<cell>/cell.json`; a rerun with the same
 * settings reuses those, resumes a cell whose training stopped from its
 * checkpoint, and evaluates a cell that trained but was not evaluated. The
 * grid itself (methods, lengths, seeds) may grow between runs; the settings
 * that change numbers may not.
 *
 * @module
 */
import { join, resolve } from "pathe";
import { loadPrefixSource, taskEosTokenIds } from "../bundle/mod.ts";
import { PrefixEdgeError } from "../errors/mod.ts";
import { type ExecutionProvider, InferenceEngine } from "../infer/mod.ts";
import { fileUrlToPath, type LoadedModel, loadModel, type Prefix } from "../model/mod.ts";
import {
  type DataFormat,
  type EvalRecord,
  guessDataFormat,
  type LoadedExamples,
  loadExamples,
  prepareDataset,
  type ProgressSink,
  readMetrics,
  taskUsage,
  type TokenizedDataset,
  train,
  type TrainerFactory,
  type TrainRecord,
} from "../train/mod.ts";
import { checkEvalTask, type EvalTask, primaryMetric } from "./eval_task.ts";
import { evaluateExamples, type EvaluationResult } from "./evaluate.ts";
import { engineDevMetric } from "./dev_metric.ts";
import type { DevMetric } from "../train/mod.ts";
import {
  DEFAULT_PREFIX_LENGTHS,
  type GridCell,
  gridCells,
  METHOD_SETTINGS,
  type MethodName,
  METHODS,
} from "./experiment_grid.ts";
import { type ExperimentFiles, writeExperimentReport } from "./experiment_report.ts";
import type {
  BaselineResult,
  CellResult,
  ExperimentSettings,
  ExperimentState,
  GridEvalOptions,
  GridTrainOptions,
} from "./experiment_state.ts";
export type {
  BaselineResult,
  CellResult,
  ExperimentSettings,
  ExperimentState,
  GridEvalOptions,
  GridTrainOptions,
};
import { labelledProgressBar } from "./progress.ts";

const DEFAULT_MODEL = fileUrlToPath(new URL("../../models/stories260K", import.meta.url));

/** What an experiment runs. */
export interface ExperimentOptions {
  /** Base model folder (default: the embedded models/stories260K). */
  model?: string;
  /** Training data file. */
  train: string;
  /** Dev data for the dev loss (convergence curves); optional but needed for those plots. */
  dev?: string;
  /** Data the metrics are computed on (default: `dev`). */
  test?: string;
  /** The task (default: from the training file's format). */
  task?: EvalTask;
  /** Methods (default: all five). */
  methods?: MethodName[];
  /** Prefix lengths (default 1, 5, 10, 20, 50, 100). */
  prefixLens?: number[];
  /** Seeds (default 1, 2, 3). */
  seeds?: number[];
  /** Training settings of every cell. */
  training?: GridTrainOptions;
  /** A learning rate per method, over `training.lr` (each method's best from a sweep). */
  lrByMethod?: Partial<Record<MethodName, number>>;
  /**
   * Judge every cell by what it generates on the dev data during training (the dev metric
   * picks its best prefix; `training.patience` stops it early). Default: off, or on when
   * `targetMetric` is set.
   */
  devMetric?: boolean;
  /** Stop a cell as soon as its dev metric reaches this value (steps to a target metric). */
  targetMetric?: number;
  /** Evaluation settings of every cell. */
  evaluation?: GridEvalOptions;
  /** Dev loss the "steps to target" plot measures (default: the worst final dev loss of the grid). */
  targetDevLoss?: number;
  /** Where the inference engine runs (default: webgpu on a hardware GPU, else wasm). */
  executionProvider?: ExecutionProvider;
  /** Output folder. */
  outDir: string;
  /** The command line, recorded in the report. */
  command?: string;
}

/** Hooks: the trainer (tests may inject one), progress output, per-cell events, cancellation. */
export interface ExperimentHooks {
  /** Builds the trainer (default: the WebGPU trainer). */
  trainer?: TrainerFactory;
  /** Where progress bars draw (default stderr); `false` hides them. */
  progress?: ProgressSink | false;
  /** Called as each cell is reused, started or finished. */
  onCell?: (
    event: { cell: GridCell; kind: "reused" | "trained" | "resumed" | "evaluated" },
  ) => void;
  /** Checked before each cell: an aborted signal stops the grid with `CANCELLED`. */
  signal?: AbortSignal;
}

/** What {@link runExperiment} returns. */
export interface ExperimentResult extends ExperimentState {
  /** The files written. */
  files: ExperimentFiles;
}

/**
 * Run (or continue) an experiment grid.
 *
 * @param options data, grid, training and evaluation settings, output folder
 * @param hooks trainer, progress, events, cancellation
 * @returns every cell's result and the files written
 * @throws {PrefixEdgeError} `CHECKPOINT_MISMATCH` when `outDir` holds an
 *   experiment with other settings, `CANCELLED` when the signal aborts, and
 *   whatever training and evaluation throw
 *
 * @example A small grid on the embedded E2E subset
 * ```ts
 * import { ok } from "node:assert";
 * import { runExperiment } from "./run_experiment.ts";
 * const outDir = await Deno.makeTempDir();
 * const r = await runExperiment({
 *   model: "tests/fixtures/gpt2-text",
 *   train: "data/e2e-small/train.csv",
 *   dev: "data/e2e-small/dev.csv",
 *   methods: ["residual+gate"], // a real study: several methods, lengths and seeds
 *   prefixLens: [4],
 *   seeds: [1],
 *   training: { steps: 2, batchSize: 4, lr: 5e-3, maxLen: 96 },
 *   evaluation: { numBeams: 1, limit: 2, maxNewTokens: 8 },
 *   outDir,
 * }, { progress: false });
 * const [cell] = r.cells;
 * ok(r.baseline !== null && r.results[cell.id].devLoss! > 0);
 * ok((await Deno.readTextFile(r.files.report)).includes("residual+gate"));
 * await Deno.remove(outDir, { recursive: true });
 * ```
 */
export async function runExperiment(
  options: ExperimentOptions,
  hooks: ExperimentHooks = {},
): Promise<ExperimentResult> {
  const modelDir = resolve(options.model ?? DEFAULT_MODEL);
  const task = checkEvalTask(options.task ?? guessDataFormat(options.train));
  const format: DataFormat | undefined = task === "e2e" || task === "jsonl" ? undefined : task;
  const devPath = options.dev ? resolve(options.dev) : null;
  const testPath = resolve(options.test ?? options.dev ?? "");
  if (!options.test && !options.dev) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      "Cannot run the experiment: pass dev data (--dev) or test data (--test) to compute the metrics on",
    );
  }
  const cells = gridCells(
    options.methods ?? METHODS,
    options.prefixLens ?? DEFAULT_PREFIX_LENGTHS,
    options.seeds ?? [1, 2, 3],
  );
  const model = await loadModel(modelDir);
  const maxP = Math.max(...cells.map((c) => c.prefixLen));
  const maxLen = options.training?.maxLen ??
    Math.min(512, model.config.maxPositions - maxP);
  const settings: ExperimentSettings = {
    version: 1,
    model: modelDir,
    data: { train: resolve(options.train), dev: devPath, test: testPath },
    task,
    training: { ...defined(options.training ?? {}), maxLen },
    evaluation: {
      numBeams: 5,
      maxNewTokens: 64,
      batchSize: 8,
      ...defined(options.evaluation ?? {}),
    },
    ...(options.lrByMethod ? { lrByMethod: options.lrByMethod } : {}),
    ...(options.devMetric || options.targetMetric !== undefined
      ? { devMetric: { target: options.targetMetric ?? null } }
      : {}),
  };
  const outDir = options.outDir;
  await checkSettings(outDir, settings);

  const trainSet = await prepareDataset(model, settings.data.train, { maxLen, format });
  const devSet = devPath ? await prepareDataset(model, devPath, { maxLen, format }) : null;
  const testData = await loadExamples(testPath, format);
  const training = withIntervals(settings.training, trainSet);
  // Generations end where training ended every output (stories260K: BOS).
  const endIds = taskUsage(trainSet).generation.eosTokenIds;

  const state: ExperimentState = {
    settings,
    cells,
    results: {},
    baseline: null,
    primary: testData.slots ? "exact" : primaryMetric(task),
  };
  const engine = await InferenceEngine.create(model, {
    executionProvider: options.executionProvider,
  });
  const evaluation: GridEvalOptions = {
    ...settings.evaluation,
    eosTokenIds: taskEosTokenIds(endIds, engine.eosTokenIds),
    endTokenId: endIds[0],
  };
  const devMetric = settings.devMetric && devPath
    ? engineDevMetric(
      engine,
      devPath === testPath ? testData : await loadExamples(devPath, format),
      {
        maxNewTokens: settings.evaluation.maxNewTokens,
        eosTokenIds: endIds,
        limit: settings.evaluation.limit,
      },
    )
    : undefined;
  const report = () =>
    writeExperimentReport(outDir, state, {
      targetDevLoss: options.targetDevLoss,
      command: options.command,
    });
  try {
    // The baseline every table needs: the base model without a prefix.
    const baselinePath = join(outDir, "baseline.json");
    state.baseline = await readJson<BaselineResult>(baselinePath);
    if (!state.baseline) {
      const r = await evaluate(
        engine,
        testData,
        task,
        null,
        evaluation,
        hooks,
        "baseline",
      );
      state.baseline = { scores: r.scores, evalCount: r.count };
      await writeJson(baselinePath, state.baseline);
    }
    for (const [i, cell] of cells.entries()) {
      if (hooks.signal?.aborted) {
        await report();
        throw new PrefixEdgeError(
          "CANCELLED",
          `Stopped the experiment before cell ${
            i + 1
          } of ${cells.length} (${cell.id}); run the same command again to continue`,
        );
      }
      const result = await runCell(cell, {
        outDir,
        model,
        trainSet,
        devSet,
        testData,
        task,
        training,
        evaluation,
        engine,
        hooks,
        position: `${i + 1}/${cells.length}`,
        lr: settings.lrByMethod?.[cell.method],
        devMetric,
        targetMetric: settings.devMetric?.target ?? undefined,
      });
      state.results[cell.id] = result;
      await report();
    }
  } finally {
    await engine.dispose();
  }
  const files = await report();
  return { ...state, files };
}

/**
 * Dev loss about 20 times per run and a checkpoint about 5 times per run,
 * unless the caller chose the intervals: the curves need the points, and an
 * interrupted grid should lose little.
 */
function withIntervals(training: GridTrainOptions, trainSet: TokenizedDataset): GridTrainOptions {
  const batch = training.batchSize ?? 10, accum = training.gradAccum ?? 1;
  const steps = training.steps ??
    Math.ceil(((training.epochs ?? 5) * Math.ceil(trainSet.examples.length / batch)) / accum);
  return {
    ...training,
    evalEvery: training.evalEvery ?? Math.max(1, Math.round(steps / 20)),
    checkpointEvery: training.checkpointEvery ?? Math.max(1, Math.round(steps / 5)),
  };
}

async function checkSettings(outDir: string, settings: ExperimentSettings): Promise<void> {
  const path = join(outDir, "experiment.json");
  const before = await readJson<ExperimentSettings>(path);
  if (before && JSON.stringify(before) !== JSON.stringify(settings)) {
    const diff = (Object.keys(settings) as (keyof ExperimentSettings)[])
      .filter((k) => JSON.stringify(before[k]) !== JSON.stringify(settings[k]));
    throw new PrefixEdgeError(
      "CHECKPOINT_MISMATCH",
      `Cannot continue the experiment in ${outDir}: its ${
        diff.join(", ")
      } differ from this run's (use another --out, or the same settings)`,
    );
  }
  await Deno.mkdir(outDir, { recursive: true });
  if (!before) await writeJson(path, settings);
}

interface CellContext {
  outDir: string;
  model: LoadedModel;
  trainSet: TokenizedDataset;
  devSet: TokenizedDataset | null;
  testData: LoadedExamples;
  task: EvalTask;
  training: GridTrainOptions;
  evaluation: GridEvalOptions;
  engine: InferenceEngine;
  hooks: ExperimentHooks;
  position: string;
  /** This cell's method's learning rate, over `training.lr`. */
  lr?: number;
  /** Judges the cell during training. */
  devMetric?: DevMetric;
  /** Stop the cell once its dev metric reaches this. */
  targetMetric?: number;
}

async function runCell(cell: GridCell, ctx: CellContext): Promise<CellResult> {
  const runDir = join(ctx.outDir, "runs", cell.id);
  const cellPath = join(runDir, "cell.json");
  const done = await readJson<CellResult>(cellPath);
  if (done) {
    ctx.hooks.onCell?.({ cell, kind: "reused" });
    return done;
  }
  const say = (m: string) => ctx.hooks.progress !== false && console.error(m);
  // Trained already (summary written), only the evaluation is missing?
  const summary = await readJson<{ export: string; steps: number }>(join(runDir, "summary.json"));
  let prefix: Prefix;
  let trainSec = 0;
  if (summary) {
    prefix = await loadPrefixSource(summary.export, { model: ctx.model });
  } else {
    const resume = await exists(join(runDir, "checkpoint"));
    say(
      `cell ${ctx.position}: ${cell.method}, P=${cell.prefixLen}, seed ${cell.seed}${
        resume ? " (resuming)" : ""
      }`,
    );
    const t0 = performance.now();
    const r = await train(
      ctx.model,
      { train: ctx.trainSet, dev: ctx.devSet },
      {
        ...ctx.training,
        ...(ctx.lr !== undefined ? { lr: ctx.lr } : {}),
        ...METHOD_SETTINGS[cell.method],
        prefixLen: cell.prefixLen,
        seed: cell.seed,
        outDir: runDir,
        taskName: cell.id,
        resume: resume ? runDir : undefined,
        ...(ctx.targetMetric !== undefined ? { stopAtMetric: ctx.targetMetric } : {}),
      },
      {
        trainer: ctx.hooks.trainer,
        progress: ctx.hooks.progress,
        ...(ctx.devMetric ? { devMetric: ctx.devMetric } : {}),
        // A cell that fails its own checks is still a result of the grid.
        onWarn: ctx.hooks.progress === false ? () => {} : undefined,
      },
    );
    trainSec = (performance.now() - t0) / 1000;
    ctx.hooks.onCell?.({ cell, kind: resume ? "resumed" : "trained" });
    prefix = r.prefixModule.fold();
  }
  const t1 = performance.now();
  const ev = await evaluate(
    ctx.engine,
    ctx.testData,
    ctx.task,
    prefix,
    ctx.evaluation,
    ctx.hooks,
    "eval",
  );
  const evalSec = (performance.now() - t1) / 1000;
  ctx.hooks.onCell?.({ cell, kind: "evaluated" });

  const records = await readMetrics(join(runDir, "metrics.jsonl"));
  const evals = records.filter((r): r is EvalRecord => r.type === "eval");
  const trains = records.filter((r): r is TrainRecord => r.type === "train");
  const final = await readJson<{
    steps: number;
    initialDevLoss: number | null;
    devLoss: number | null;
    finalLoss: number | null;
    initialGates: number[] | null;
    metric: string | null;
    bestStep: number | null;
    bestMetric: number | null;
  }>(join(runDir, "summary.json"));
  const metricName = final?.metric ?? null;
  const metricCurve = metricName
    ? evals.filter((r) => r.scores?.[metricName] !== undefined)
      .map((r) => [r.step, r.scores![metricName]] as [number, number])
    : [];
  const gateSteps = trains.map((r) => r.step), gates = trains.map((r) => r.gates);
  if (final?.initialGates && gateSteps[0] !== 0) {
    gateSteps.unshift(0);
    gates.unshift(final.initialGates);
  }
  const result: CellResult = {
    cell,
    scores: ev.scores,
    evalCount: ev.count,
    steps: final?.steps ?? 0,
    initialDevLoss: final?.initialDevLoss ?? null,
    devLoss: final?.devLoss ?? null,
    finalLoss: final?.finalLoss ?? null,
    devCurve: evals.map((r) => [r.step, r.devLoss]),
    ...(metricName ? { metricCurve } : {}),
    bestStep: final?.bestStep ?? null,
    ...(ctx.targetMetric !== undefined
      ? { reachedTarget: (final?.bestMetric ?? -Infinity) >= ctx.targetMetric }
      : {}),
    gateSteps,
    gates,
    seconds: { train: trainSec, eval: evalSec },
  };
  await Deno.writeTextFile(
    join(runDir, "generations.jsonl"),
    ev.items.map((it) => JSON.stringify(it)).join("\n") + "\n",
  );
  await writeJson(cellPath, result);
  return result;
}

async function evaluate(
  engine: InferenceEngine,
  data: LoadedExamples,
  task: EvalTask,
  prefix: Prefix | null,
  evaluation: GridEvalOptions,
  hooks: ExperimentHooks,
  label: string,
): Promise<EvaluationResult> {
  let bar: ReturnType<typeof labelledProgressBar> | null = null;
  const t0 = performance.now();
  const r = await evaluateExamples(engine, data, {
    task,
    prefix,
    ...evaluation,
    onProgress: (done, total) => {
      if (hooks.progress === false) return;
      bar ??= labelledProgressBar(total, label, hooks.progress);
      const sec = (performance.now() - t0) / 1000;
      bar.update(done, { etaSec: (sec / done) * (total - done) }, done === total);
    },
  });
  (bar as ReturnType<typeof labelledProgressBar> | null)?.finish();
  return r;
}

/** The entries whose value is set (so they neither override defaults nor change identity). */
function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

async function readJson<T>(path: string): Promise<T | null> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    if (e instanceof SyntaxError) {
      // A file cut short by an interruption: redo what it recorded.
      return null;
    }
    throw e;
  }
}

async function writeJson(path: string, value: unknown): Promise<void> {
  // Write then rename, so an interruption never leaves half a file behind.
  const tmp = `${path}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(value, null, 2) + "\n");
  await Deno.rename(tmp, path);
}
