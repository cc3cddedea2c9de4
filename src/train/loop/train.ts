/**
 * The training loop: data order, learning-rate schedule, gradient
 * accumulation, dev loss, checkpoints and resume, the NaN/Inf guard, the
 * progress bar, metrics, plots and the final export.
 *
 * The loop never touches the GPU itself: it drives a {@link Trainer}
 * (the backend's trainer by default: WebGPU or ONNX Runtime; a CPU fake in tests).
 *
 * Data position: micro-batch `k` of the run (0-based, counted across epochs)
 * is batch `k % N` of epoch `floor(k / N)`, where `N` batches make an epoch and
 * each epoch's order comes from `(seed, epoch)` alone. Optimizer step `s`
 * consumes micro-batches `s*A .. s*A+A-1` (`A = gradAccum`). So a checkpoint
 * only needs the step to restore the data position, and runs reproduce under
 * a seed.
 *
 * @module
 */
import { type BundleDtype, modelFingerprint, validateTaskName } from "../../bundle/mod.ts";
import { PrefixEdgeError } from "../../errors/mod.ts";
import type { LoadedModel } from "../../model/mod.ts";
import { PrefixModule } from "../../prefix/mod.ts";
import type { TokenizedDataset } from "../data/tokenize_dataset.ts";
import { type ExportedPrefix, exportPrefix, type TrainingFacts } from "../export_prefix.ts";
import { taskUsage } from "../data/task_usage.ts";
import {
  type BestPrefix,
  type DevMetric,
  isBetterCandidate,
  judgeRun,
  type RunVerdict,
} from "./best_prefix.ts";
import { linearWarmupDecay } from "../schedule.ts";
import { planRun } from "./run_plan.ts";
import { type RunFiles, runFiles, type RunTarget } from "./run_files.ts";
import { writeRunPlots } from "./run_plots.ts";
import {
  checkResumable,
  identityOptions,
  type LogWindow,
  readCheckpoint,
  writeCheckpoint,
} from "./checkpoint.ts";
import { createTrainer, type TrainingBackend } from "../training_backend.ts";
import {
  type EvalRecord,
  MetricsLog,
  type MetricsRecord,
  type TrainRecord,
} from "./metrics_log.ts";
import { ProgressBar, type ProgressSink } from "./progress_bar.ts";
import type { Trainer, TrainerFactory } from "../trainer.ts";
import { checkContext, resolveTrainOptions, type TrainOptions } from "./train_options.ts";

/** The data of a run: a training set and an optional dev set. */
export interface TrainData {
  /** Tokenized training examples. */
  train: TokenizedDataset;
  /** Tokenized dev examples for the dev loss (optional). */
  dev?: TokenizedDataset | null;
}

/** Options of {@link train}: the training options plus where to write. */
export interface TrainRunOptions extends Partial<TrainOptions> {
  /**
   * Output folder (created): metrics.jsonl, loss.svg, gates.svg, checkpoint/, `<task>.prefix.zip`,
   * summary.json; or a `RunFiles` (a page's private file system, memory).
   */
  outDir: RunTarget;
  /** Task name recorded in the export and its file name (default "task"; see `validateTaskName`). */
  taskName?: string;
  /** Resume from this checkpoint folder (or a run folder holding `checkpoint/`). */
  resume?: RunTarget;
  /** Stored dtype of the exported bundle's keys/values (default `F16`). */
  exportDtype?: BundleDtype;
  /**
   * Where steps run: `webgpu`, `native`, `wasm`, or `auto` (default: the fastest the machine
   * has; see `trainingBackendCandidates`). Ignored when `hooks.trainer` is given.
   */
  backend?: TrainingBackend | "auto";
  /**
   * Stop as soon as the dev metric reaches this value (a study's "steps to reach a target");
   * needs `hooks.devMetric`.
   */
  stopAtMetric?: number;
  /**
   * Stops the run at the end of the current step: it checkpoints, exports the best prefix so far
   * and returns with `stopped` true (a page's Stop button; the CLI's Ctrl-C checkpoints instead).
   */
  signal?: AbortSignal;
}

/** Injection points: the trainer, and where logs and warnings go. */
export interface TrainHooks {
  /** Builds the trainer (default: the `backend` option's trainer, `createTrainer`). */
  trainer?: TrainerFactory;
  /** Called with the line saying which backend was chosen and why. */
  onBackend?: (line: string) => void;
  /** Called with each metrics record as it is written. */
  onLog?: (record: MetricsRecord) => void;
  /** Called with each warning (default: printed to stderr under the bar). */
  onWarn?: (message: string) => void;
  /** Where the progress bar draws (default stderr); `false` hides it. */
  progress?: ProgressSink | false;
  /**
   * Scores prefixes by what they generate on held-out data (with the base model's score at step
   * 0), every `evalEvery` steps: it picks the best prefix, which is the one exported, and drives
   * early stopping. Without it the dev loss alone picks.
   */
  devMetric?: DevMetric;
}

/** A scored point of the run. */
export interface ScoredStep {
  /** Optimizer steps done. */
  step: number;
  /** The dev metric (null without one). */
  metric: number | null;
  /** The dev loss (null without dev data). */
  devLoss: number | null;
  /** Every dev score (null without a dev metric). */
  scores: Record<string, number> | null;
}

/** What a finished run returns. */
export interface TrainResult {
  /** Optimizer steps done. */
  steps: number;
  /** Epochs done (fractional). */
  epochs: number;
  /** Mean token loss of the last train log window. */
  finalLoss: number | null;
  /**
   * Dev loss before the first step (null without dev data; when resumed, the
   * step-0 value kept in metrics.jsonl, or null if that line is gone).
   */
  initialDevLoss: number | null;
  /** Last dev loss (null without dev data). */
  devLoss: number | null;
  /** Final gates `[P]`. */
  gates: number[];
  /** The trained module. */
  prefixModule: PrefixModule;
  /** The step the run resumed from, if it did. */
  resumedFrom: number | null;
  /** The backend that ran the steps (`custom` for an injected trainer). */
  backend: TrainingBackend | "custom";
  /** The dev metric's name (null without one). */
  metric: string | null;
  /** The base model's dev scores, without a prefix (null without a dev metric). */
  baseScores: Record<string, number> | null;
  /** The untrained prefix's dev scores at step 0 (null without a dev metric). */
  initialScores: Record<string, number> | null;
  /** The last evaluation's dev scores (null without a dev metric). */
  finalScores: Record<string, number> | null;
  /** The exported prefix: the best evaluated one (null when nothing was evaluated: the last). */
  best: ScoredStep | null;
  /** True when early stopping (or `stopAtMetric`) ended the run before its last step. */
  stoppedEarly: boolean;
  /** True when `signal` stopped the run; `--resume` (or `resume`) continues it. */
  stopped: boolean;
  /** Whether the run passed its own checks; when not, say so and exit non-zero. */
  verdict: RunVerdict;
  /**
   * False when the run failed its checks and a bundle was already at `files.export.path`: a
   * failed run writes nothing over an earlier bundle.
   */
  bundleWritten: boolean;
  /** Files written. */
  files: {
    metrics: string;
    lossPlot: string;
    gatesPlot: string | null;
    metricPlot: string | null;
    checkpoint: string;
    export: ExportedPrefix;
    summary: string;
  };
}

function emptyWindow(): LogWindow {
  return { lossSum: 0, tokens: 0, realTokens: 0, gradNormSum: 0, gradNormCount: 0, skipped: 0 };
}

/**
 * Train a prefix on a dataset.
 *
 * @param model the frozen base model
 * @param data training (and dev) data, tokenized
 * @param runOptions training options and the output folder
 * @param hooks trainer factory, log and warning callbacks, progress sink
 * @returns the run's results and written files
 * @throws {PrefixEdgeError} `INVALID_INPUT` (options, a task name that
 *   `validateTaskName` refuses), `PREFIX_MISMATCH` /
 *   `CONTEXT_OVERFLOW` (prefix and examples do not fit the context),
 *   `DATA_INVALID` (empty data), `CHECKPOINT_MISMATCH` / `CHECKPOINT_INVALID`
 *   (resume), `TRAINING_DIVERGED` (too many non-finite steps in a row)
 *
 * @example Train on the embedded E2E subset
 * ```ts
 * import { ok } from "node:assert";
 * import { loadModel } from "../../model/mod.ts";
 * import { prepareDataset } from "../data/mod.ts";
 * import { train } from "./train.ts";
 * const model = await loadModel("tests/fixtures/gpt2-text");
 * const data = await prepareDataset(model, "data/e2e-small/train.csv", { maxLen: 96 });
 * const outDir = await Deno.makeTempDir();
 * const result = await train(model, { train: data }, {
 *   outDir, steps: 4, batchSize: 4, maxLen: 96, lr: 5e-3,
 * }, { progress: false });
 * ok(result.finalLoss !== null && result.bundleWritten && result.verdict.ok);
 * await Deno.remove(outDir, { recursive: true });
 * ```
 */
export async function train(
  model: LoadedModel,
  data: TrainData,
  runOptions: TrainRunOptions,
  hooks: TrainHooks = {},
): Promise<TrainResult> {
  const {
    outDir,
    taskName = "task",
    resume,
    exportDtype,
    backend: requested,
    stopAtMetric,
    signal,
    ...rest
  } = runOptions;
  validateTaskName(taskName); // before training: the name becomes the bundle's file name
  const options = resolveTrainOptions(rest);
  const config = model.config;
  checkContext(config, options.prefixLen, options.maxLen);
  const trainSet = data.train, devSet = data.dev ?? null;
  const devMetric = hooks.devMetric ?? null;
  if (stopAtMetric !== undefined && devMetric === null) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      "Cannot stop at a dev metric value: the run has no dev metric (hooks.devMetric)",
    );
  }
  const plan = planRun(options, trainSet, devSet, config.eosTokenIds[0] ?? 0);
  const { longest, batchesPerEpoch, totalMicro, totalSteps } = plan;
  const { batchSize, gradAccum, seed } = options;
  const run: RunFiles = runFiles(outDir);
  await run.create();

  // The same sampled fingerprint bundles carry: a checkpoint resumes only on its own base.
  const identity = (await modelFingerprint(model)).sha256;
  const fingerprints = { train: trainSet.fingerprint, dev: devSet?.fingerprint ?? null };
  const checkpoint = resume ? await readCheckpoint(resume) : null;
  if (checkpoint) {
    checkResumable(checkpoint.state, { options, model: identity, data: fingerprints });
  }
  const method = {
    prefixLen: options.prefixLen,
    reparam: options.reparam,
    gate: options.gate,
    midDim: options.midDim,
  };
  const pm = checkpoint
    ? PrefixModule.fromParams(config, { ...method, params: checkpoint.params })
    : PrefixModule.init(config, { ...method, seed });
  // The gates plot starts from these values at step 0.
  const initialGates = checkpoint
    ? (checkpoint.state.initialGates ?? null)
    : Array.from(pm.gates());

  const bar = hooks.progress === false ? null : new ProgressBar(totalSteps, hooks.progress);
  const warn = hooks.onWarn ??
    ((m: string) => bar ? bar.log(`warning: ${m}`) : console.error(`warning: ${m}`));
  const startStep = checkpoint?.state.step ?? 0;
  const metrics = await MetricsLog.open(run, checkpoint ? startStep : undefined, "metrics.jsonl");
  const log = async (r: MetricsRecord) => {
    await metrics.write(r);
    hooks.onLog?.(r);
  };
  const checkpointDir = run.sub("checkpoint");

  const limits = { maxBatch: batchSize, maxLen: longest };
  let trainer: Trainer, backend: TrainingBackend | "custom" = "custom";
  if (hooks.trainer) trainer = await hooks.trainer(model, pm, limits);
  else {
    const chosen = await createTrainer(model, pm, {
      ...limits,
      backend: requested,
      log: hooks.onBackend ?? ((line) => console.error(line)),
    });
    trainer = chosen.trainer;
    backend = chosen.backend;
  }

  // What the run is judged by: evaluations only happen with dev data or a dev metric.
  const judged = devSet !== null || devMetric !== null;
  const saved = checkpoint?.state;
  let best: BestPrefix | null = saved?.best && checkpoint?.bestParams
    ? { ...saved.best, params: checkpoint.bestParams }
    : null;
  let sinceBest = saved?.sinceBest ?? 0;
  let stoppedEarly = saved?.stoppedEarly ?? false;
  let stopped = false;
  let startScores = saved?.startScores ?? null;
  let lastScores: Record<string, number> | null = null;
  let initialDevLoss: number | null = null;
  let devLoss: number | null = null;
  let finalLoss: number | null = null;
  // A resumed run that had already stopped early (or finished) trains no further step.
  let stepsDone = startStep;

  /** Dev loss and dev metric of the module's current parameters; keeps the best. */
  const evaluate = async (
    step: number,
    extra: Partial<EvalRecord> = {},
  ): Promise<void> => {
    let lossSum = 0, tokens = 0;
    if (devSet) {
      for (const batch of plan.devBatches()) {
        const r = await trainer.evaluate(batch);
        lossSum += r.lossSum;
        tokens += r.tokens;
      }
    }
    const loss = devSet ? lossSum / Math.max(1, tokens) : null;
    const scores = devMetric ? await devMetric.evaluate(pm.fold()) : null;
    const point = { step, metric: scores?.[devMetric!.name] ?? null, devLoss: loss };
    const improved = isBetterCandidate(point, best);
    if (improved) {
      best = { ...point, scores, params: copyParams(pm.params) };
      sinceBest = 0;
    } else sinceBest++;
    devLoss = loss;
    lastScores = scores;
    await log({
      type: "eval",
      step,
      epoch: Math.min(step * gradAccum, totalMicro) / batchesPerEpoch,
      ...(loss !== null ? { devLoss: loss, devTokens: tokens } : { devLoss: NaN, devTokens: 0 }),
      ...(scores ? { scores } : {}),
      ...extra,
      best: improved,
    });
    // What the run generates, as it goes: the number a user watches.
    if (bar) {
      const parts = [
        ...(loss !== null ? [`dev loss ${loss.toFixed(4)}`] : []),
        ...(scores && devMetric ? [`${devMetric.name} ${scores[devMetric.name].toFixed(3)}`] : []),
      ];
      bar.log(`eval ${step}: ${parts.join(", ")}${improved ? " (best so far)" : ""}`);
    }
  };

  try {
    if (checkpoint) await trainer.loadOptimizerState(checkpoint.optimizer);

    if (!checkpoint && judged) {
      // Step 0: the base model alone, then the untrained prefix (the first candidate).
      const base = devMetric ? await devMetric.evaluate(null) : null;
      await evaluate(0, base ? { baseScores: base } : {});
      initialDevLoss = devLoss;
      if (base && lastScores) startScores = { base, initial: lastScores };
    }
    let window: LogWindow = checkpoint ? { ...checkpoint.state.window } : emptyWindow();
    let consecutiveBad = checkpoint?.state.consecutiveBad ?? 0;
    const t0 = performance.now();
    let windowStart = t0;
    let lastLr = 0;

    for (let step = startStep; step < totalSteps && !stoppedEarly && !stopped; step++) {
      // The parameters are read back at most once a step, by whichever of the log line, the
      // evaluation and the checkpoint needs them first (on WebGPU it is a device readback).
      let synced: Record<string, Float32Array> | null = null;
      const params = async () => synced ??= await syncParams(trainer, pm);
      const { lossSum, tokens, realTokens, gradNorm, skipped, lr, lastMicro } = await runStep(
        trainer,
        plan,
        options,
        step,
      );
      lastLr = lr;
      const done = step + 1;
      stepsDone = done;
      window.realTokens += realTokens;

      // NaN/Inf guard: the trainer already dropped the update; count and maybe stop.
      if (skipped || !Number.isFinite(gradNorm) || !Number.isFinite(lossSum)) {
        consecutiveBad++;
        window.skipped++;
        const message = `step ${done}: non-finite ${
          !Number.isFinite(lossSum) ? `loss (${lossSum})` : `gradient norm (${gradNorm})`
        }; update skipped (${consecutiveBad} in a row, limit ${options.maxBadSteps})`;
        warn(message);
        await log({ type: "warn", step: done, message });
        if (consecutiveBad >= options.maxBadSteps) {
          throw new PrefixEdgeError(
            "TRAINING_DIVERGED",
            `Cannot continue training: ${consecutiveBad} steps in a row had a non-finite loss or gradient (last at step ${done}); lower --lr or --max-grad-norm, or check the data`,
          );
        }
      } else {
        consecutiveBad = 0;
        window.lossSum += lossSum;
        window.tokens += tokens;
        window.gradNormSum += gradNorm;
        window.gradNormCount++;
      }

      const last = done === totalSteps;
      const epoch = lastMicro / batchesPerEpoch;
      const now = performance.now();
      const etaSec = ((now - t0) / 1000 / (done - startStep)) * (totalSteps - done);
      const isLogStep = done % options.logEvery === 0 || last;
      if (isLogStep) {
        await params();
        const secs = Math.max(1e-9, (now - windowStart) / 1000);
        const rec: TrainRecord = {
          type: "train",
          step: done,
          epoch,
          lr: lastLr,
          loss: window.tokens > 0 ? window.lossSum / window.tokens : null,
          tokens: window.tokens,
          tokensPerSec: window.realTokens / secs,
          gradNorm: window.gradNormCount > 0 ? window.gradNormSum / window.gradNormCount : null,
          skipped: window.skipped,
          gates: Array.from(pm.gates()),
          elapsedSec: (now - t0) / 1000,
        };
        await log(rec);
        if (rec.loss !== null) finalLoss = rec.loss;
        bar?.update(done, { loss: rec.loss, tokensPerSec: rec.tokensPerSec, etaSec }, true);
        window = emptyWindow();
        windowStart = now;
      } else {
        bar?.update(done, { loss: tokens > 0 ? lossSum / tokens : null, etaSec });
      }
      if (judged && ((options.evalEvery > 0 && done % options.evalEvery === 0) || last)) {
        await params();
        await evaluate(done);
        const reached = stopAtMetric !== undefined && (best?.metric ?? -Infinity) >= stopAtMetric;
        const patient = options.patience > 0 && sinceBest >= options.patience;
        if (!last && (reached || patient)) {
          stoppedEarly = true;
          const why = reached
            ? `the dev ${devMetric!.name} reached ${stopAtMetric}`
            : `${sinceBest} evaluations without a better prefix (--patience ${options.patience})`;
          bar?.log(`stopping early at step ${done}: ${why}; keeping step ${best!.step}`);
          await log({ type: "warn", step: done, message: `stopped early: ${why}` });
        }
      }
      stopped = !last && !stoppedEarly && (signal?.aborted ?? false);
      if (stopped) bar?.log(`stopped at step ${done}; resume continues from here`);
      if (
        (options.checkpointEvery > 0 && done % options.checkpointEvery === 0) || last ||
        stoppedEarly || stopped
      ) {
        await writeCheckpoint(checkpointDir, {
          state: {
            format: "prefix-edge.checkpoint",
            version: 1,
            step: done,
            totalSteps,
            microBatches: lastMicro,
            batchesPerEpoch,
            rng: { seed, epoch: Math.floor(lastMicro / batchesPerEpoch) },
            options: identityOptions(options),
            model: identity,
            data: fingerprints,
            window,
            consecutiveBad,
            ...(initialGates ? { initialGates } : {}),
            ...(best ? { best: scoredStep(best), sinceBest } : {}),
            ...(stoppedEarly ? { stoppedEarly } : {}),
            ...(startScores ? { startScores } : {}),
            savedAt: new Date().toISOString(),
          },
          params: await params(),
          optimizer: await trainer.readOptimizerState(),
          ...(best ? { bestParams: (best as BestPrefix).params } : {}),
        });
      }
    }
    bar?.finish();
    await syncParams(trainer, pm);
  } finally {
    trainer.destroy();
  }

  // From here on the module holds the exported prefix: the best evaluated one.
  if (best) {
    for (const [name, value] of Object.entries((best as BestPrefix).params)) {
      pm.params[name].set(value);
    }
  }

  // Plots and facts from the whole metrics history (including lines kept across a resume).
  const trainRecs = metrics.records.filter((r): r is TrainRecord => r.type === "train");
  const evalRecs = metrics.records.filter((r): r is EvalRecord => r.type === "eval");
  if (finalLoss === null) finalLoss = trainRecs.findLast((r) => r.loss !== null)?.loss ?? null;
  const lastEval = evalRecs.at(-1);
  if (devSet && devLoss === null) devLoss = lastEval?.devLoss ?? null;
  if (devSet && checkpoint) initialDevLoss = evalRecs.find((r) => r.step === 0)?.devLoss ?? null;
  if (devMetric && lastScores === null) lastScores = lastEval?.scores ?? null;
  const metricName = devMetric?.name ?? null;
  const { lossPlot, gatesPlot, metricPlot } = await writeRunPlots(
    run,
    taskName,
    options,
    metrics.records,
    initialGates,
    metricName,
  );
  const bestStep = best ? scoredStep(best) : null;
  const verdict = judgeRun({
    initialDevLoss,
    finalDevLoss: devLoss,
    metric: metricName,
    baseMetric: metricName ? (startScores?.base[metricName] ?? null) : null,
    bestMetric: bestStep?.metric ?? null,
  });

  const epochs = Math.min(stepsDone * gradAccum, totalMicro) / batchesPerEpoch;
  const training: TrainingFacts = {
    data: trainSet.source,
    dataFormat: trainSet.format,
    dataFingerprint: trainSet.fingerprint,
    separator: trainSet.separator,
    steps: stepsDone,
    epochs,
    finalLoss,
    devLoss: bestStep?.devLoss ?? devLoss,
    hyperparameters: { ...identityOptions(options) },
    metrics: "metrics.jsonl",
    ...(bestStep ? { bestStep: bestStep.step } : {}),
  };
  const bundleFile = `${taskName}.prefix.zip`, bundlePath = run.pathOf(bundleFile);
  // A failed run writes nothing over an earlier bundle.
  const bundleWritten = verdict.ok || !(await run.has(bundleFile));
  const exported: ExportedPrefix = bundleWritten
    ? await exportPrefix({
      outDir: run,
      taskName,
      model,
      prefixModule: pm,
      training,
      dtype: exportDtype,
      scores: bestStep?.scores ?? null,
      ...taskUsage(trainSet),
    })
    : { path: bundlePath, kind: "bundle" };
  const gates = Array.from(pm.gates());
  const summaryPath = run.pathOf("summary.json");
  await run.write(
    "summary.json",
    JSON.stringify(
      {
        task: taskName,
        model: model.paths.dir,
        steps: stepsDone,
        totalSteps,
        epochs,
        examples: trainSet.examples.length,
        droppedExamples: trainSet.dropped,
        initialDevLoss,
        initialGates,
        devLoss,
        finalLoss,
        metric: metricName,
        baseScores: startScores?.base ?? null,
        initialScores: startScores?.initial ?? null,
        finalScores: lastScores,
        bestStep: bestStep?.step ?? null,
        bestMetric: bestStep?.metric ?? null,
        bestDevLoss: bestStep?.devLoss ?? null,
        bestScores: bestStep?.scores ?? null,
        stoppedEarly,
        stopped,
        ok: verdict.ok,
        problems: verdict.problems,
        gates,
        resumedFrom: checkpoint ? startStep : null,
        backend,
        options,
        export: bundleWritten ? exported.path : null,
      },
      null,
      2,
    ) + "\n",
  );
  return {
    steps: stepsDone,
    epochs,
    finalLoss,
    initialDevLoss,
    devLoss,
    gates,
    prefixModule: pm,
    resumedFrom: checkpoint ? startStep : null,
    backend,
    metric: metricName,
    baseScores: startScores?.base ?? null,
    initialScores: startScores?.initial ?? null,
    finalScores: lastScores,
    best: bestStep,
    stoppedEarly,
    stopped,
    verdict,
    bundleWritten,
    files: {
      metrics: metrics.path,
      lossPlot,
      gatesPlot,
      metricPlot,
      checkpoint: checkpointDir.name,
      export: exported,
      summary: summaryPath,
    },
  };
}

/**
 * One optimizer step: forward and backward over its micro-batches, then the update at the
 * schedule's rate. Micro-batch `k` of the run is the plan's batch `k`, so a step only needs its
 * number to find its data.
 */
async function runStep(
  trainer: Trainer,
  plan: ReturnType<typeof planRun>,
  options: TrainOptions,
  step: number,
): Promise<{
  lossSum: number;
  tokens: number;
  realTokens: number;
  gradNorm: number;
  skipped: boolean;
  lr: number;
  lastMicro: number;
}> {
  let lossSum = 0, tokens = 0, realTokens = 0;
  const firstMicro = step * options.gradAccum;
  const lastMicro = Math.min(firstMicro + options.gradAccum, plan.totalMicro);
  for (let k = firstMicro; k < lastMicro; k++) {
    const batch = plan.microBatch(k);
    const r = await trainer.accumulate(batch);
    lossSum += r.lossSum;
    tokens += r.tokens;
    for (const row of batch.attentionMask) for (const v of row) realTokens += v;
  }
  const lr = linearWarmupDecay(step, {
    lr: options.lr,
    warmupSteps: options.warmupSteps,
    totalSteps: plan.totalSteps,
  });
  const { gradNorm, skipped } = await trainer.step({
    lr,
    weightDecay: options.weightDecay,
    maxGradNorm: options.maxGradNorm,
  });
  return { lossSum, tokens, realTokens, gradNorm, skipped, lr, lastMicro };
}

function scoredStep(b: BestPrefix): ScoredStep {
  return { step: b.step, metric: b.metric, devLoss: b.devLoss, scores: b.scores };
}

function copyParams(params: Record<string, Float32Array>): Record<string, Float32Array> {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, v.slice()]));
}

/** Read the trainer's parameters into the module (the contract says it does; copying makes sure). */
async function syncParams(
  trainer: Trainer,
  pm: PrefixModule,
): Promise<Record<string, Float32Array>> {
  const params = await trainer.readParams();
  for (const [name, value] of Object.entries(params)) {
    if (pm.params[name] && pm.params[name] !== value) pm.params[name].set(value);
  }
  return params;
}
