/**
 * The metrics file of a run: JSONL, one object per line, appended as training
 * goes (docs/training.md lists the schema).
 *
 * @module
 */
import { basename, dirname } from "pathe";
import { type RunFiles, runFiles, type RunTarget } from "./run_files.ts";

/** One training log line, written every `logEvery` optimizer steps. */
export interface TrainRecord {
  /** Line kind. */
  type: "train";
  /** Optimizer steps done. */
  step: number;
  /** Epochs done, fractional (micro-batches consumed / micro-batches per epoch). */
  epoch: number;
  /** Learning rate of the latest step. */
  lr: number;
  /** Mean token loss since the previous train line (skipped steps excluded; null if all were skipped). */
  loss: number | null;
  /** Scored (target) tokens since the previous train line. */
  tokens: number;
  /** Real (non-padding) tokens through the model per second of wall time, since the previous line. */
  tokensPerSec: number;
  /** Mean pre-clipping gradient norm of the finite steps since the previous line (null if none). */
  gradNorm: number | null;
  /** Steps skipped by the NaN/Inf guard since the previous line. */
  skipped: number;
  /** `sigmoid(a)` per prefix token `[P]`; all ones without a gate. */
  gates: number[];
  /** Seconds since the run (or the resumed run) started. */
  elapsedSec: number;
}

/** One dev-loss line, written every `evalEvery` steps and at the end. */
export interface EvalRecord {
  /** Line kind. */
  type: "eval";
  /** Optimizer steps done. */
  step: number;
  /** Epochs done, fractional. */
  epoch: number;
  /** Mean token loss over the whole dev set. */
  devLoss: number;
  /** Scored tokens in the dev set. */
  devTokens: number;
  /** The dev metric's scores of this step's prefix (with a dev metric). */
  scores?: Record<string, number>;
  /** The base model's scores, without a prefix (step 0 only, with a dev metric). */
  baseScores?: Record<string, number>;
  /** True when this step's prefix became the run's best. */
  best?: boolean;
}

/** A warning the run logged (a skipped non-finite step). */
export interface WarnRecord {
  /** Line kind. */
  type: "warn";
  /** Optimizer steps done, counting the skipped one. */
  step: number;
  /** What happened. */
  message: string;
}

/** Any line of metrics.jsonl. */
export type MetricsRecord = TrainRecord | EvalRecord | WarnRecord;

/**
 * Appends metrics lines to a JSONL file and keeps them for the plots.
 *
 * @example Write a line
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { MetricsLog, readMetrics } from "./metrics_log.ts";
 * const dir = await Deno.makeTempDir();
 * const log = await MetricsLog.open(`${dir}/metrics.jsonl`);
 * await log.write({ type: "eval", step: 100, epoch: 1, devLoss: 2.5, devTokens: 900 });
 * assertEquals(await readMetrics(log.path), log.records);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class MetricsLog {
  /** The file written. */
  readonly path: string;
  /** Every record of the run so far, including those kept from before a resume. */
  readonly records: MetricsRecord[];

  readonly #files: RunFiles;
  readonly #name: string;

  private constructor(path: string, records: MetricsRecord[], files: RunFiles, name: string) {
    this.path = path;
    this.records = records;
    this.#files = files;
    this.#name = name;
  }

  /**
   * Start a metrics file. Without `keepUpToStep` the file is truncated. With
   * it (resume), the lines of steps `<= keepUpToStep` are kept and later ones
   * dropped, since the resumed run writes them again.
   *
   * @param path the JSONL file's path, or the run it belongs to
   * @param keepUpToStep the checkpoint's step when resuming
   * @param rel the file's name in the run (with a run)
   * @returns the log
   */
  static async open(
    path: RunTarget,
    keepUpToStep?: number,
    rel = "metrics.jsonl",
  ): Promise<MetricsLog> {
    // A string is the file's path (its folder is the run); a RunFiles is the run.
    const files = typeof path === "string" ? runFiles(dirname(path)) : path;
    const name = typeof path === "string" ? basename(path) : rel;
    let kept: MetricsRecord[] = [];
    if (keepUpToStep !== undefined) {
      const bytes = await files.read(name);
      kept = bytes
        ? parseMetrics(new TextDecoder().decode(bytes)).filter((r) => r.step <= keepUpToStep)
        : [];
    }
    await files.write(name, kept.map((r) => JSON.stringify(r) + "\n").join(""));
    return new MetricsLog(files.pathOf(name), kept, files, name);
  }

  /** Append one record. */
  async write(record: MetricsRecord): Promise<void> {
    this.records.push(record);
    await this.#files.append(this.#name, JSON.stringify(record) + "\n");
  }
}

/**
 * Read a metrics.jsonl file back.
 *
 * @param path the file
 * @returns its records in order
 *
 * @example Final dev loss of a run
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { loadModel } from "../../model/mod.ts";
 * import { prepareDataset } from "../data/mod.ts";
 * import { train } from "./train.ts";
 * import { readMetrics } from "./metrics_log.ts";
 * const model = await loadModel("tests/fixtures/gpt2-text");
 * const prepare = (path: string) => prepareDataset(model, path, { maxLen: 96 });
 * const data = { train: await prepare("data/e2e-small/train.csv"), dev: await prepare("data/e2e-small/dev.csv") };
 * const outDir = await Deno.makeTempDir();
 * const result = await train(model, data, { outDir, steps: 2, batchSize: 4, maxLen: 96 }, { progress: false });
 * const evals = (await readMetrics(`${outDir}/metrics.jsonl`)).filter((r) => r.type === "eval");
 * assertEquals(evals.at(-1)?.devLoss, result.devLoss);
 * await Deno.remove(outDir, { recursive: true });
 * ```
 */
export async function readMetrics(path: string): Promise<MetricsRecord[]> {
  return parseMetrics(await Deno.readTextFile(path));
}

/** The records of a metrics.jsonl text. */
export function parseMetrics(text: string): MetricsRecord[] {
  return text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
}
