/**
 * The dev metric `deno task train` judges a run by: greedy, batched generations on held-out
 * inputs, scored with the task's metric (the exact share of records told and BLEU for
 * record-to-text data with slot values, BLEU for other text, accuracy or F1 for GLUE).
 *
 * @module
 */
import { taskEosTokenIds } from "../bundle/mod.ts";
import { type ExecutionProvider, InferenceEngine } from "../infer/mod.ts";
import type { LoadedModel, Prefix } from "../model/mod.ts";
import type { DevMetric, LoadedExamples } from "../train/mod.ts";
import { checkEvalTask, primaryMetric } from "./eval_task.ts";
import { evaluateExamples } from "./evaluate.ts";

/** Options of {@link generationDevMetric}. */
export interface GenerationDevMetricOptions {
  /** Score only the first N distinct inputs (default 200). */
  limit?: number;
  /** New tokens per generation (default 64; the task's generation defaults fit it). */
  maxNewTokens?: number;
  /** Stop strings (default none). */
  stop?: string[];
  /** Tokens that end a generation, besides the engine's EOS ids (the task's `eosTokenIds`). */
  eosTokenIds?: number[];
  /** Rows generated together (default 64). */
  batchSize?: number;
  /** Inference backend (default: native when onnxruntime-node loads, else the engine's choice). */
  executionProvider?: ExecutionProvider;
}

/** A {@link DevMetric} that owns an inference engine. */
export interface GenerationDevMetric extends DevMetric {
  /** The backend its generations run on. */
  readonly executionProvider: ExecutionProvider;
  /** Release the engine. */
  dispose(): Promise<void>;
}

/**
 * Build the dev metric of a task: the model's ONNX decoder generates greedily for the held-out
 * inputs, with the prefix being judged, and `evaluateExamples` scores the outputs.
 *
 * @param model the base model (needs `onnx/model.onnx` and its tokenizer)
 * @param data held-out examples (their `slots`, when present, add the exact share)
 * @param options limit, length, batch and backend
 * @returns the metric; call `dispose()` when done
 * @throws {PrefixEdgeError} `INVALID_INPUT` when the data's format is no evaluation task,
 *   `BACKEND_UNAVAILABLE` when no backend can run the decoder
 *
 * @example Score the base model of the main job on four held-out records
 * ```ts
 * import { ok } from "node:assert";
 * import { loadModel } from "../model/mod.ts";
 * import { loadExamples } from "../train/mod.ts";
 * import { generationDevMetric } from "./dev_metric.ts";
 * const model = await loadModel("models/stories260K");
 * const dev = await loadExamples("data/pet-stories/dev.jsonl");
 * const metric = await generationDevMetric(model, dev, { limit: 4, maxNewTokens: 8 });
 * const scores = await metric.evaluate(null);
 * ok(metric.name === "exact" && scores.exact >= 0 && scores.exact <= 1);
 * await metric.dispose();
 * ```
 */
export async function generationDevMetric(
  model: LoadedModel,
  data: LoadedExamples,
  options: GenerationDevMetricOptions = {},
): Promise<GenerationDevMetric> {
  let engine: InferenceEngine;
  if (options.executionProvider) {
    engine = await InferenceEngine.create(model, { executionProvider: options.executionProvider });
  } else {
    // Native is the fastest CPU backend; where it cannot load, the engine picks.
    engine = await InferenceEngine.create(model, { executionProvider: "native" })
      .catch(() => InferenceEngine.create(model));
  }
  const metric = engineDevMetric(engine, data, options);
  return {
    name: metric.name,
    executionProvider: engine.executionProvider,
    get lastSamples() {
      return metric.lastSamples;
    },
    evaluate: (prefix) => metric.evaluate(prefix),
    dispose: () => engine.dispose(),
  };
}

/**
 * The dev metric of a task on an engine the caller owns (an experiment grid shares one).
 *
 * @param engine the inference engine of the base model
 * @param data held-out examples
 * @param options limit, length, stop strings and end tokens, batch
 * @returns the metric
 * @throws {PrefixEdgeError} `INVALID_INPUT` when the data's format is no evaluation task
 */
export function engineDevMetric(
  engine: InferenceEngine,
  data: LoadedExamples,
  options: Omit<GenerationDevMetricOptions, "executionProvider"> = {},
): DevMetric {
  const task = checkEvalTask(data.format);
  const name = data.slots && (task === "jsonl" || task === "e2e") ? "exact" : primaryMetric(task);
  let lastSamples: { input: string; output: string }[] = [];
  return {
    name,
    get lastSamples() {
      return lastSamples;
    },
    async evaluate(prefix: Prefix | null) {
      const r = await evaluateExamples(engine, data, {
        task,
        prefix,
        numBeams: 1,
        maxNewTokens: options.maxNewTokens ?? 64,
        limit: options.limit ?? 200,
        batchSize: options.batchSize ?? 64,
        ...(options.stop?.length ? { stop: options.stop } : {}),
        ...(options.eosTokenIds?.length
          ? {
            eosTokenIds: taskEosTokenIds(options.eosTokenIds, engine.eosTokenIds),
            endTokenId: options.eosTokenIds[0],
          }
          : {}),
      });
      lastSamples = r.items.map((it) => ({ input: it.input, output: it.prediction }));
      return r.scores;
    },
  };
}
