/**
 * Evaluate a base model, with or without a prefix, on a task's examples:
 * generate and score with the E2E metrics (`e2e`, `jsonl`), or classify by
 * verbalizer likelihood and score with the GLUE metrics.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import { argmax, e2eMetrics, glueMetrics, scoreContinuations, slotMetrics } from "../eval/mod.ts";
import type { InferenceEngine } from "../infer/mod.ts";
import type { Prefix } from "../model/mod.ts";
import { GLUE_VERBALIZERS, type LoadedExamples, tokenizeExample } from "../train/mod.ts";
import {
  type ClassificationTask,
  type EvalTask,
  positiveLabel,
  primaryMetric,
  verbalizersFor,
} from "./eval_task.ts";

/** Options of {@link evaluateExamples}. */
export interface EvaluateOptions {
  /** The task (decides generation vs classification and the metrics). */
  task: EvalTask;
  /** The task's prefix, or `null` to evaluate the base model. */
  prefix: Prefix | null;
  /** Beam width for generation tasks (default 5, as Li & Liang). */
  numBeams?: number;
  /** New tokens at most per generation (default 64). */
  maxNewTokens?: number;
  /** Evaluate only the first N inputs (distinct inputs for generation tasks). */
  limit?: number;
  /** Raw label -> verbalizer word overrides (classification tasks). */
  verbalizers?: Record<string, string>;
  /** Generations decoded together (default 8). */
  batchSize?: number;
  /** Stop strings for generation tasks (default none: each row ends at EOS or the length). */
  stop?: string[];
  /** Tokens that end a generation (default: the engine's EOS ids). */
  eosTokenIds?: number[];
  /**
   * The token a verbalizer ends with when it is scored, as training ended every target
   * (`endOfOutputToken`; default: the tokenizer's or config's EOS).
   */
  endTokenId?: number;
  /** Called as inputs finish: `(done, total)`. */
  onProgress?: (done: number, total: number) => void;
}

/** One evaluated input. */
export interface EvalItem {
  /** The input text. */
  input: string;
  /** References (generation) or the gold label's word (classification). */
  references: string[];
  /** What the model produced: its generation, or the predicted label's word (or score, STS-B). */
  prediction: string;
  /** Log-likelihood of each verbalizer (classification), in label order. */
  logLikelihoods?: number[];
}

/** What {@link evaluateExamples} returns. */
export interface EvaluationResult {
  /** The task. */
  task: EvalTask;
  /** The metric a table shows first (a key of `scores`). */
  primary: string;
  /**
   * The scores (E2E: bleu, nist, rougeL, cider; with slot values, also `exact` and
   * `named.<slot>`; GLUE: accuracy, f1, mcc, pearson, spearman).
   */
  scores: Record<string, number>;
  /** Inputs evaluated. */
  count: number;
  /** Per input, what went in and came out. */
  items: EvalItem[];
  /** Settings that shaped the numbers. */
  settings: Record<string, unknown>;
}

/** STS-B candidates: 0.0, 0.1, ..., 5.0, as the training adapter writes scores. */
const STSB_CANDIDATES = Array.from({ length: 51 }, (_, i) => (i / 10).toFixed(1));

/**
 * Evaluate on loaded examples.
 *
 * Generation tasks group rows by input (E2E has several references per
 * meaning representation), generate once per input from `input + separator`
 * and score with {@link e2eMetrics}. Classification tasks score every
 * label's verbalizer (with the closing EOS, as in training) and predict the
 * likeliest; STS-B predicts the likelihood-weighted mean of the scores
 * 0.0..5.0.
 *
 * @param engine the inference engine of the base model (needs its tokenizer)
 * @param data examples from `loadExamples` (their format must fit the task)
 * @param options task, prefix, decoding and limits
 * @returns scores and per-input outputs
 * @throws {PrefixEdgeError} `TOKENIZER_MISSING`, `INVALID_INPUT` (task and data
 *   disagree, bad verbalizers), `DATA_INVALID` (a label with no verbalizer)
 *
 * @example Evaluate the base model on the embedded SST-2 slice
 * ```ts
 * import { deepStrictEqual as assertEquals, ok } from "node:assert";
 * import { InferenceEngine } from "../infer/mod.ts";
 * import { loadModel } from "../model/mod.ts";
 * import { loadExamples } from "../train/mod.ts";
 * import { evaluateExamples } from "./evaluate.ts";
 * const model = await loadModel("models/stories260K");
 * const engine = await InferenceEngine.create(model, { executionProvider: "wasm" });
 * const data = await loadExamples("data/SST-2/dev.tsv");
 * const r = await evaluateExamples(engine, data, { task: "sst2", prefix: null, limit: 4 });
 * assertEquals([r.count, r.primary, r.items[0].logLikelihoods?.length], [4, "accuracy", 2]);
 * ok(r.scores.accuracy >= 0 && r.scores.accuracy <= 1);
 * await engine.dispose();
 * ```
 */
export async function evaluateExamples(
  engine: InferenceEngine,
  data: LoadedExamples,
  options: EvaluateOptions,
): Promise<EvaluationResult> {
  const { task } = options;
  const generation = task === "e2e" || task === "jsonl";
  const fits = generation ? data.format === "e2e" || data.format === "jsonl" : data.format === task;
  if (!fits) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      `Cannot evaluate ${task} on ${data.path}: it reads as ${data.format} data`,
    );
  }
  if (!engine.tokenizer) {
    throw new PrefixEdgeError(
      "TOKENIZER_MISSING",
      "Cannot evaluate on text: the model has no tokenizer.json",
    );
  }
  if (generation) return await evaluateGeneration(engine, data, options);
  return await evaluateClassification(engine, data, options);
}

async function evaluateGeneration(
  engine: InferenceEngine,
  data: LoadedExamples,
  options: EvaluateOptions,
): Promise<EvaluationResult> {
  const groups = new Map<string, string[]>();
  for (const ex of data.examples) {
    const refs = groups.get(ex.input) ?? [];
    refs.push(ex.output);
    groups.set(ex.input, refs);
  }
  let inputs = [...groups.keys()];
  if (options.limit !== undefined) inputs = inputs.slice(0, options.limit);
  const numBeams = options.numBeams ?? 5, maxNewTokens = options.maxNewTokens ?? 64;
  const batchSize = options.batchSize ?? 8;
  const items: EvalItem[] = [];
  for (let i = 0; i < inputs.length; i += batchSize) {
    const chunk = inputs.slice(i, i + batchSize);
    const streams = engine.generateBatch(chunk.map((input) => ({
      prompt: input + data.separator,
      prefix: options.prefix,
      numBeams,
      maxNewTokens,
      ...(options.stop?.length ? { stop: options.stop } : {}),
      ...(options.eosTokenIds?.length ? { eosTokenIds: options.eosTokenIds } : {}),
    })));
    const results = await Promise.all(streams.map((s) => s.result));
    chunk.forEach((input, k) => {
      items.push({
        input,
        references: groups.get(input)!,
        prediction: results[k].text.replace(/\s+/g, " ").trim(),
      });
    });
    options.onProgress?.(items.length, inputs.length);
  }
  const predictions = items.map((it) => it.prediction);
  const s = e2eMetrics(predictions, items.map((it) => it.references));
  const scores: Record<string, number> = {};
  // A record-to-text task whose data lists its slot values is judged first by whether each
  // output names its record exactly: a fluent story about the wrong child is a wrong story.
  if (data.slots) {
    const slots = slotMetrics(items.map((it) => it.input), predictions, data.slots);
    scores.exact = slots.exact;
    for (const [slot, share] of Object.entries(slots.named)) scores[`named.${slot}`] = share;
  }
  Object.assign(scores, { bleu: s.bleu, nist: s.nist, rougeL: s.rougeL, cider: s.cider });
  return {
    task: options.task,
    primary: data.slots ? "exact" : primaryMetric(options.task),
    scores,
    count: items.length,
    items,
    settings: { numBeams, maxNewTokens, separator: data.separator },
  };
}

async function evaluateClassification(
  engine: InferenceEngine,
  data: LoadedExamples,
  options: EvaluateOptions,
): Promise<EvaluationResult> {
  const task = options.task as ClassificationTask | "stsb";
  const tok = engine.tokenizer!;
  const eos = options.endTokenId ?? tok.eosTokenId ?? engine.config.eosTokenIds[0];
  if (eos === undefined) {
    throw new PrefixEdgeError(
      "CONFIG_INVALID",
      "Cannot score verbalizers: neither the tokenizer nor config.json names an EOS token",
    );
  }
  const examples = options.limit !== undefined
    ? data.examples.slice(0, options.limit)
    : data.examples;
  // Candidate words, and the gold candidate of each example.
  let words: string[], gold: number[], labels: string[] = [];
  if (task === "stsb") {
    words = STSB_CANDIDATES;
    gold = examples.map((e) => Number(e.output));
  } else {
    const verbalizers = verbalizersFor(task, options.verbalizers);
    labels = Object.keys(verbalizers);
    words = labels.map((l) => verbalizers[l]);
    // The data adapter wrote the default word; map it back to its raw label.
    const byDefaultWord = new Map(
      Object.entries(GLUE_VERBALIZERS[task]).map(([label, word]) => [word, label]),
    );
    gold = examples.map((e, i) => {
      const label = byDefaultWord.get(e.output);
      if (label === undefined) {
        throw new PrefixEdgeError(
          "DATA_INVALID",
          `Cannot evaluate example ${i} of ${data.path}: its output "${e.output}" is no ${task} label`,
        );
      }
      return labels.indexOf(label);
    });
  }
  // Continuation ids exactly as training tokenizes them: the word after the prompt, then EOS.
  const rows = examples.map((e) => {
    const prompt = tok.encode(e.input + data.separator);
    return {
      prompt,
      candidates: words.map((w) => {
        const t = tokenizeExample(tok, { input: e.input, output: w }, data.separator, eos);
        return t.inputIds.slice(t.labels.findIndex((l) => l !== -100));
      }),
    };
  });
  const lls = await scoreContinuations(engine, rows, {
    prefix: options.prefix,
    onProgress: (done) => options.onProgress?.(done, rows.length),
  });
  const items: EvalItem[] = [];
  let scores: Record<string, number>;
  if (task === "stsb") {
    const preds = lls.map((ll) => {
      const m = Math.max(...ll);
      const w = ll.map((v) => Math.exp(v - m));
      const z = w.reduce((a, b) => a + b, 0);
      return w.reduce((a, wi, i) => a + (wi / z) * Number(words[i]), 0);
    });
    examples.forEach((e, i) =>
      items.push({ input: e.input, references: [e.output], prediction: preds[i].toFixed(2) })
    );
    scores = { ...glueMetrics("stsb", preds, gold) };
  } else {
    const positive = labels.indexOf(positiveLabel(task));
    const preds = lls.map(argmax);
    examples.forEach((e, i) =>
      items.push({
        input: e.input,
        references: [words[gold[i]]],
        prediction: words[preds[i]],
        logLikelihoods: lls[i],
      })
    );
    const bin = (k: number) => (k === positive ? 1 : 0);
    scores = { ...glueMetrics(task, preds.map(bin), gold.map(bin)) };
  }
  return {
    task: options.task,
    primary: primaryMetric(options.task),
    scores,
    count: items.length,
    items,
    settings: { verbalizers: Object.fromEntries(labels.map((l, i) => [l, words[i]])) },
  };
}
