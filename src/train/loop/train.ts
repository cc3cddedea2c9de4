/**
 * The training loop: data order, learning-rate schedule, gradient
 * accumulation, dev loss, checkpoints and resume, the NaN/Inf guard, the
 * progress bar, metrics, plots and the final export.
 *
 * The loop never touches the GPU itself: it drives a {@link LoopTrainer}
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
import { join } from "node:path";
import { type BundleDtype, modelFingerprint } from "../../bundle/mod.ts";
import { PrefixEdgeError } from "../../errors/mod.ts";
import type { LoadedModel } from "../../model/mod.ts";
import { PrefixModule } from "../../prefix/mod.ts";
import type { TokenizedDataset } from "../data/tokenize_dataset.ts";
import {
  checkTaskName,
  type ExportedPrefix,
  exportPrefix,
  type TrainingFacts,
} from "../export_prefix.ts";
import { linearWarmupDecay } from "../schedule.ts";
import { planRun } from "./run_plan.ts";
import { writeRunPlots } from "./run_plots.ts";
import {
  type CheckpointState,
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
import type { LoopTrainer, TrainerFactory } from "./trainer_contract.ts";
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
  /** Output folder (created): metrics.jsonl, loss.svg, gates.svg, checkpoint/, `<task>.prefix.zip`, summary.json. */
  outDir: string;
  /** Task name recorded in the export and its file name (default "task"; see `checkTaskName`). */
  taskName?: string;
  /** Resume from this checkpoint folder (or a run folder holding `checkpoint/`). */
  resume?: string;
  /** Stored dtype of the exported bundle's keys/values (default `F16`). */
  exportDtype?: BundleDtype;
  /**
   * Where steps run: `webgpu`, `native`, `wasm`, or `auto` (default: the fastest the machine
   * has; see `trainingBackendCandidates`). Ignored when `hooks.trainer` is given.
   */
  backend?: TrainingBackend | "auto";
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
  /** Files written. */
  files: {
    metrics: string;
    lossPlot: string;
    gatesPlot: string | null;
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
 *   `checkTaskName` refuses), `PREFIX_MISMATCH` /
 *   `CONTEXT_OVERFLOW` (prefix and examples do not fit the context),
 *   `DATA_INVALID` (empty data), `CHECKPOINT_MISMATCH` / `CHECKPOINT_INVALID`
 *   (resume), `TRAINING_DIVERGED` (too many non-finite steps in a row)
 *
 * @example Train on the embedded E2E subset
 * ```ts ignore
 * const model = await loadModel("tests/fixtures/gpt2-text");
 * const tok = model.requireTokenizer();
 * const opts = { maxLen: 96, eosTokenId: tok.eosTokenId! };
 * const data = await tokenizeDataset(await loadExamples("data/e2e-small/train.csv"), tok, opts);
 * const result = await train(model, { train: data }, { outDir: "runs/e2e", steps: 20, batchSize: 4, maxLen: 96 });
 * console.log(result.finalLoss);
 * ```
 */
export async function train(
  model: LoadedModel,
  data: TrainData,
  runOptions: TrainRunOptions,
  hooks: TrainHooks = {},
): Promise<TrainResult> {
  const { outDir, taskName = "task", resume, exportDtype, backend: requested, ...rest } =
    runOptions;
  checkTaskName(taskName); // before training: the name becomes the bundle's file name
  const options = resolveTrainOptions(rest);
  const config = model.config;
  checkContext(config, options.prefixLen, options.maxLen);
  const trainSet = data.train, devSet = data.dev ?? null;
  const plan = planRun(options, trainSet, devSet, config.eosTokenIds[0] ?? 0);
  const { longest, batchesPerEpoch, totalMicro, totalSteps } = plan;
  const { batchSize, gradAccum, seed } = options;
  await makeOutDir(outDir);

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
  const metrics = await MetricsLog.open(
    join(outDir, "metrics.jsonl"),
    checkpoint ? startStep : undefined,
  );
  const log = async (r: MetricsRecord) => {
    await metrics.write(r);
    hooks.onLog?.(r);
  };
  const checkpointDir = join(outDir, "checkpoint");

  const limits = { maxBatch: batchSize, maxLen: longest };
  let trainer: LoopTrainer, backend: TrainingBackend | "custom" = "custom";
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
  let initialDevLoss: number | null = null;
  let devLoss: number | null = null;
  let finalLoss: number | null = null;
  try {
    if (checkpoint) await trainer.loadOptimizerState(checkpoint.optimizer);

    const evaluateDev = async (step: number): Promise<number | null> => {
      if (!devSet) return null;
      let lossSum = 0, tokens = 0;
      for (const batch of plan.devBatches()) {
        const r = await trainer.evaluate(batch);
        lossSum += r.lossSum;
        tokens += r.tokens;
      }
      const rec: EvalRecord = {
        type: "eval",
        step,
        epoch: Math.min(step * gradAccum, totalMicro) / batchesPerEpoch,
        devLoss: lossSum / Math.max(1, tokens),
        devTokens: tokens,
      };
      await log(rec);
      return rec.devLoss;
    };

    if (!checkpoint) {
      initialDevLoss = await evaluateDev(0);
      devLoss = initialDevLoss;
    }
    let window: LogWindow = checkpoint ? { ...checkpoint.state.window } : emptyWindow();
    let consecutiveBad = checkpoint?.state.consecutiveBad ?? 0;
    const t0 = performance.now();
    let windowStart = t0;
    let lastLr = 0;

    for (let step = startStep; step < totalSteps; step++) {
      // Forward/backward over this step's micro-batches.
      let lossSum = 0, tokens = 0, realTokens = 0;
      const firstMicro = step * gradAccum;
      const lastMicro = Math.min(firstMicro + gradAccum, totalMicro);
      for (let k = firstMicro; k < lastMicro; k++) {
        const batch = plan.microBatch(k);
        const r = await trainer.accumulate(batch);
        lossSum += r.lossSum;
        tokens += r.tokens;
        for (const row of batch.attentionMask) for (const v of row) realTokens += v;
      }
      lastLr = linearWarmupDecay(step, {
        lr: options.lr,
        warmupSteps: options.warmupSteps,
        totalSteps,
      });
      const { gradNorm, skipped } = await trainer.step({
        lr: lastLr,
        weightDecay: options.weightDecay,
        maxGradNorm: options.maxGradNorm,
      });
      const done = step + 1;
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
        await syncParams(trainer, pm);
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
      if ((options.evalEvery > 0 && done % options.evalEvery === 0) || (last && devSet)) {
        devLoss = await evaluateDev(done);
      }
      if ((options.checkpointEvery > 0 && done % options.checkpointEvery === 0) || last) {
        const state: CheckpointState = {
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
          savedAt: new Date().toISOString(),
        };
        await writeCheckpoint(checkpointDir, {
          state,
          params: await syncParams(trainer, pm),
          optimizer: await trainer.readOptimizerState(),
        });
      }
    }
    bar?.finish();
    await syncParams(trainer, pm);
  } finally {
    trainer.destroy();
  }

  // Plots from the whole metrics history (including lines kept across a resume).
  const trainRecs = metrics.records.filter((r): r is TrainRecord => r.type === "train");
  const evalRecs = metrics.records.filter((r): r is EvalRecord => r.type === "eval");
  if (finalLoss === null) finalLoss = trainRecs.findLast((r) => r.loss !== null)?.loss ?? null;
  if (devSet && devLoss === null) devLoss = evalRecs.at(-1)?.devLoss ?? null;
  if (devSet && checkpoint) initialDevLoss = evalRecs.find((r) => r.step === 0)?.devLoss ?? null;
  const { lossPlot, gatesPlot } = await writeRunPlots(
    outDir,
    taskName,
    options,
    metrics.records,
    initialGates,
  );

  const epochs = totalMicro / batchesPerEpoch;
  const training: TrainingFacts = {
    data: trainSet.source,
    dataFormat: trainSet.format,
    dataFingerprint: trainSet.fingerprint,
    separator: trainSet.separator,
    steps: totalSteps,
    epochs,
    finalLoss,
    devLoss,
    hyperparameters: { ...identityOptions(options) },
    metrics: "metrics.jsonl",
  };
  const exported = await exportPrefix({
    outDir,
    taskName,
    model,
    prefixModule: pm,
    training,
    dtype: exportDtype,
  });
  const gates = Array.from(pm.gates());
  const summaryPath = join(outDir, "summary.json");
  await Deno.writeTextFile(
    summaryPath,
    JSON.stringify(
      {
        task: taskName,
        model: model.paths.dir,
        steps: totalSteps,
        epochs,
        examples: trainSet.examples.length,
        droppedExamples: trainSet.dropped,
        initialDevLoss,
        initialGates,
        devLoss,
        finalLoss,
        gates,
        resumedFrom: checkpoint ? startStep : null,
        backend,
        options,
        export: exported.path,
      },
      null,
      2,
    ) + "\n",
  );
  return {
    steps: totalSteps,
    epochs,
    finalLoss,
    initialDevLoss,
    devLoss,
    gates,
    prefixModule: pm,
    resumedFrom: checkpoint ? startStep : null,
    backend,
    files: {
      metrics: metrics.path,
      lossPlot,
      gatesPlot,
      checkpoint: checkpointDir,
      export: exported,
      summary: summaryPath,
    },
  };
}

/** Create the output folder, or say in one line why it cannot be one. */
async function makeOutDir(outDir: string): Promise<void> {
  try {
    await Deno.mkdir(outDir, { recursive: true });
  } catch (e) {
    const why = e instanceof Deno.errors.AlreadyExists || e instanceof Deno.errors.NotADirectory
      ? "it, or a folder above it, is a file"
      : e instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : null;
    if (why === null) throw e;
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      `Cannot write the run to ${outDir}: ${why}; the output (--out) is a folder`,
      { cause: e },
    );
  }
}

/** Read the trainer's parameters into the module (the contract says it does; copying makes sure). */
async function syncParams(
  trainer: LoopTrainer,
  pm: PrefixModule,
): Promise<Record<string, Float32Array>> {
  const params = await trainer.readParams();
  for (const [name, value] of Object.entries(params)) {
    if (pm.params[name] && pm.params[name] !== value) pm.params[name].set(value);
  }
  return params;
}
