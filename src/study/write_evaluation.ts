/**
 * Write an evaluation to a folder: `generations.jsonl` (one line per input),
 * `scores.json`, and a readable `summary.md`.
 *
 * @module
 */
import { join } from "pathe";
import type { EvaluationResult } from "./evaluate.ts";

/** Where an evaluation went. */
export interface EvaluationFiles {
  /** One JSON object per input: input, references, prediction. */
  generations: string;
  /** Scores, settings and provenance. */
  scores: string;
  /** A short markdown summary. */
  summary: string;
}

/**
 * Format a score for people: fractions with 4 decimals, as the E2E scorer prints.
 *
 * @param v the value (NaN prints as "n/a")
 * @returns the text
 *
 * @example Four decimals
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { formatScore } from "./write_evaluation.ts";
 * assertEquals([formatScore(0.68123), formatScore(NaN)], ["0.6812", "n/a"]);
 * ```
 */
export function formatScore(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? "n/a" : v.toFixed(4);
}

/**
 * Write the three files.
 *
 * @param outDir the folder (created)
 * @param result the evaluation
 * @param about provenance shown in the summary and in scores.json (model, bundle, data, command)
 * @returns the paths written
 *
 * @example Write an evaluation
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import type { EvaluationResult } from "./evaluate.ts";
 * import { writeEvaluation } from "./write_evaluation.ts";
 * const result: EvaluationResult = { // as evaluateExamples returns it
 *   task: "sst2", primary: "accuracy", scores: { accuracy: 0.5 }, count: 2, settings: { limit: 2 },
 *   items: [
 *     { input: "sentence: a charming film sentiment:", references: ["positive"], prediction: "positive" },
 *     { input: "sentence: a dull film sentiment:", references: ["negative"], prediction: "positive" },
 *   ],
 * };
 * const dir = await Deno.makeTempDir();
 * const files = await writeEvaluation(`${dir}/sst2-base`, result, { model: "models/stories260K" });
 * const scores = JSON.parse(await Deno.readTextFile(files.scores));
 * assertEquals([scores.scores.accuracy, scores.model], [0.5, "models/stories260K"]);
 * assertEquals((await Deno.readTextFile(files.generations)).trim().split("\n").length, 2);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeEvaluation(
  outDir: string,
  result: EvaluationResult,
  about: Record<string, string | number | null>,
): Promise<EvaluationFiles> {
  await Deno.mkdir(outDir, { recursive: true });
  const files = {
    generations: join(outDir, "generations.jsonl"),
    scores: join(outDir, "scores.json"),
    summary: join(outDir, "summary.md"),
  };
  await Deno.writeTextFile(
    files.generations,
    result.items.map((it) => JSON.stringify(it)).join("\n") + "\n",
  );
  await Deno.writeTextFile(
    files.scores,
    JSON.stringify(
      {
        task: result.task,
        primary: result.primary,
        scores: result.scores,
        count: result.count,
        settings: result.settings,
        ...about,
      },
      null,
      2,
    ) + "\n",
  );
  const rows = Object.entries(result.scores).map(([k, v]) =>
    `| ${k}${k === result.primary ? " (primary)" : ""} | ${formatScore(v)} |`
  );
  const examples = result.items.slice(0, 5).map((it) =>
    `- **input:** ${it.input}\n  **prediction:** ${it.prediction || "(empty)"}\n  **reference:** ${
      it.references[0]
    }`
  );
  const lines = [
    `# Evaluation: ${result.task}`,
    "",
    ...Object.entries(about).map(([k, v]) => `- ${k}: ${v ?? "none"}`),
    `- inputs: ${result.count}`,
    ...Object.entries(result.settings).map(([k, v]) => `- ${k}: ${JSON.stringify(v)}`),
    "",
    "| metric | value |",
    "| --- | --- |",
    ...rows,
    "",
    result.task === "e2e" || result.task === "jsonl"
      ? "BLEU and NIST follow the E2E scorer's Python mode; METEOR is not computed (docs/evaluation.md).\n"
      : "",
    "## First outputs",
    "",
    ...examples,
    "",
  ];
  await Deno.writeTextFile(files.summary, lines.join("\n"));
  return files;
}
