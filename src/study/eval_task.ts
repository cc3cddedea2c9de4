/**
 * Evaluation tasks: which metric each reports first, and the verbalizers of
 * the GLUE classification tasks.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import { GLUE_TASKS, GLUE_VERBALIZERS, type GlueTask } from "../train/mod.ts";

/** What `deno task eval` can score: E2E generation, a GLUE task, or any JSONL generation task. */
export type EvalTask = "e2e" | "jsonl" | GlueTask;

/** Every task name, as `--task` takes it. */
export const EVAL_TASKS: readonly EvalTask[] = ["e2e", "jsonl", ...GLUE_TASKS];

/** The classification tasks (scored by verbalizer likelihood). */
export type ClassificationTask = Exclude<GlueTask, "stsb">;

/**
 * The metric a results table shows for a task (the one GLUE reports first,
 * BLEU for generation).
 *
 * @param task the task
 * @returns the key in the scores object
 *
 * @example Primary metrics
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { primaryMetric } from "./eval_task.ts";
 * assertEquals([primaryMetric("e2e"), primaryMetric("cola"), primaryMetric("stsb")], ["bleu", "mcc", "pearson"]);
 * ```
 */
export function primaryMetric(task: EvalTask): string {
  switch (task) {
    case "e2e":
    case "jsonl":
      return "bleu";
    case "mrpc":
      return "f1";
    case "cola":
      return "mcc";
    case "stsb":
      return "pearson";
    default:
      return "accuracy";
  }
}

/**
 * Check a task name.
 *
 * @param task the name given
 * @returns it, typed
 * @throws {PrefixEdgeError} `INVALID_INPUT` naming the accepted tasks
 *
 * @example Accept a task name
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { checkEvalTask } from "./eval_task.ts";
 * assertEquals(checkEvalTask("rte"), "rte");
 * ```
 */
export function checkEvalTask(task: string): EvalTask {
  if (!(EVAL_TASKS as readonly string[]).includes(task)) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      `Cannot evaluate task "${task}": expected one of ${EVAL_TASKS.join(", ")}`,
    );
  }
  return task as EvalTask;
}

/**
 * The verbalizers of a classification task: raw label -> the word the model
 * should continue with. Defaults are the words the training adapters use
 * (`GLUE_VERBALIZERS`), so a prefix is scored on what it learned; override
 * some or all (e.g. `{ "1": "great", "0": "terrible" }` for a base model).
 *
 * @param task a GLUE classification task
 * @param overrides raw label -> word
 * @returns raw label -> word, in the default label order
 * @throws {PrefixEdgeError} `INVALID_INPUT` for an unknown label, an empty
 *   word, or two labels with the same word
 *
 * @example SST-2 with custom words
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { verbalizersFor } from "./eval_task.ts";
 * assertEquals(verbalizersFor("sst2", { "1": "great" }), { "1": "great", "0": "negative" });
 * ```
 */
export function verbalizersFor(
  task: ClassificationTask,
  overrides: Record<string, string> = {},
): Record<string, string> {
  const defaults = GLUE_VERBALIZERS[task];
  for (const label of Object.keys(overrides)) {
    if (!(label in defaults)) {
      throw new PrefixEdgeError(
        "INVALID_INPUT",
        `Cannot use a verbalizer for label "${label}" of ${task}: its labels are ${
          Object.keys(defaults).join(", ")
        }`,
      );
    }
  }
  const out: Record<string, string> = {};
  for (const label of Object.keys(defaults)) {
    const word = (overrides[label] ?? defaults[label]).trim();
    if (word === "") {
      throw new PrefixEdgeError("INVALID_INPUT", `Cannot use an empty verbalizer for "${label}"`);
    }
    out[label] = word;
  }
  if (new Set(Object.values(out)).size !== Object.keys(out).length) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      `Cannot tell the labels of ${task} apart: two share a verbalizer (${JSON.stringify(out)})`,
    );
  }
  return out;
}

/** The label GLUE counts as positive (F1 of MRPC; MCC sign): `1` or `entailment`. *
 * @param task a GLUE classification task
 * @returns the raw label value
 *
 * @example RTE's positive class
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { positiveLabel } from "./eval_task.ts";
 * assertEquals([positiveLabel("rte"), positiveLabel("mrpc")], ["entailment", "1"]);
 * ```
 */
export function positiveLabel(task: ClassificationTask): string {
  return task === "rte" || task === "qnli" ? "entailment" : "1";
}
