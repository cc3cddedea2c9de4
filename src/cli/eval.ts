/**
 * `deno task eval`: score a base model, or a base model with a prefix bundle,
 * on E2E (generation: BLEU, NIST, ROUGE-L, CIDEr) or a GLUE task
 * (classification by verbalizer likelihood), writing the generations, the
 * scores as JSON and a summary.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { PrefixEdgeError } from "../errors/mod.ts";
import { loadTaskPrefix, taskEosTokenIds } from "../bundle/mod.ts";
import { type ExecutionProvider, InferenceEngine } from "../infer/mod.ts";
import { endOfOutputToken, loadModel } from "../model/mod.ts";
import { type DataFormat, loadExamples, readSlotValues } from "../train/mod.ts";
import {
  checkEvalTask,
  EVAL_TASKS,
  evaluateExamples,
  formatScore,
  labelledProgressBar,
  writeEvaluation,
} from "../study/mod.ts";
import { type CliSpec, numberOption, parseCli, runCli } from "./_args.ts";

const DEFAULT_MODEL = fileURLToPath(new URL("../../models/stories260K", import.meta.url));

const SPEC: CliSpec = {
  usage: "deno task eval --data FILE --task TASK --out DIR [--model DIR] [--bundle FILE] [options]",
  description: "Evaluate a base model, or a base model with a prefix bundle, on a task.\n" +
    "Generation tasks (e2e, jsonl) decode with beam search and report BLEU, NIST, ROUGE-L and CIDEr\n" +
    "as the official E2E scorer computes them; GLUE tasks score each label's verbalizer by its\n" +
    "likelihood. Without --bundle the base model is evaluated (the baseline of every table).\n" +
    "Writes generations.jsonl, scores.json and summary.md to --out.",
  options: {
    model: {
      type: "string",
      valueName: "DIR",
      description: "HF model folder with onnx/model.onnx (default: models/stories260K)",
    },
    bundle: {
      type: "string",
      valueName: "FILE",
      description: "prefix bundle (*.prefix.zip) or PEFT adapter folder (default: none)",
    },
    data: {
      type: "string",
      valueName: "FILE",
      description: "evaluation data: E2E .csv, GLUE .tsv or .jsonl {input, output}",
    },
    task: {
      type: "string",
      valueName: "TASK",
      description: `${EVAL_TASKS.join(" | ")} (default: from the data file)`,
    },
    out: { type: "string", valueName: "DIR", description: "output folder" },
    "num-beams": {
      type: "string",
      valueName: "N",
      description: "beam width for generation tasks (default 5)",
    },
    "max-new-tokens": {
      type: "string",
      valueName: "N",
      description: "new tokens at most per generation (default: the bundle's, else 64)",
    },
    limit: { type: "string", valueName: "N", description: "evaluate the first N inputs only" },
    slots: {
      type: "string",
      valueName: "FILE",
      description:
        "slots.json listing the values of each record slot, to score whether outputs name their record exactly (default: slots.json beside --data, if any)",
    },
    batch: {
      type: "string",
      valueName: "N",
      description: "generations decoded together (default 8)",
    },
    verbalizer: {
      type: "string",
      valueName: "LABEL=WORD",
      multiple: true,
      description:
        'override a GLUE label\'s word, e.g. --verbalizer 1=great (default: "positive"...)',
    },
    ep: {
      type: "string",
      valueName: "EP",
      description: "wasm | webgpu | native (default: webgpu on a hardware GPU, else wasm)",
    },
  },
};

async function main(): Promise<void> {
  const values = parseCli(SPEC, Deno.args);
  if (!values) return;
  const need = (name: string): string => {
    const v = values[name];
    if (typeof v !== "string" || v === "") {
      throw new PrefixEdgeError("INVALID_INPUT", `Cannot evaluate: --${name} is required`);
    }
    return v;
  };
  const dataPath = need("data"), outDir = need("out");
  const numBeams = numberOption(values, "num-beams", "int", 1);
  const maxNewTokens = numberOption(values, "max-new-tokens", "int", 1);
  const limit = numberOption(values, "limit", "int", 1);
  const batchSize = numberOption(values, "batch", "int", 1);
  const verbalizers: Record<string, string> = {};
  for (const v of (values.verbalizer as string[] | undefined) ?? []) {
    const at = v.indexOf("=");
    if (at <= 0) {
      throw new PrefixEdgeError(
        "INVALID_INPUT",
        `Cannot parse --verbalizer "${v}": write LABEL=WORD, e.g. 1=great`,
      );
    }
    verbalizers[v.slice(0, at)] = v.slice(at + 1);
  }
  const taskArg = values.task as string | undefined;
  const task = taskArg === undefined ? undefined : checkEvalTask(taskArg);
  // A GLUE task names the adapter; e2e/jsonl name the file format.
  const data = await loadExamples(dataPath, task as DataFormat | undefined);
  if (typeof values.slots === "string") data.slots = await readSlotValues(values.slots);
  const evalTask = task ?? checkEvalTask(data.format);

  const modelDir = (values.model as string | undefined) ?? DEFAULT_MODEL;
  const model = await loadModel(modelDir);
  const bundle = values.bundle as string | undefined;
  const loaded = bundle ? await loadTaskPrefix(bundle, { model }) : null;
  const prefix = loaded?.prefix ?? null;
  // The bundle's generation defaults fill what the flags leave out.
  const g = loaded?.usage.generation;
  const engine = await InferenceEngine.create(model, {
    executionProvider: values.ep as ExecutionProvider | undefined,
  });
  try {
    let bar: ReturnType<typeof labelledProgressBar> | null = null;
    const started = performance.now();
    const result = await evaluateExamples(engine, data, {
      task: evalTask,
      prefix,
      numBeams,
      maxNewTokens: maxNewTokens ?? g?.maxNewTokens,
      limit,
      batchSize,
      verbalizers,
      ...(g?.stop.length ? { stop: g.stop } : {}),
      ...(g ? { eosTokenIds: taskEosTokenIds(g.eosTokenIds, engine.eosTokenIds) } : {}),
      // Verbalizers end as training ended its targets.
      endTokenId: g?.eosTokenIds[0] ?? (await endOfOutputToken(model)).id,
      onProgress: (done, total) => {
        bar ??= labelledProgressBar(total, "eval");
        const sec = (performance.now() - started) / 1000;
        bar.update(done, { etaSec: (sec / done) * (total - done) }, done === total);
      },
    });
    (bar as ReturnType<typeof labelledProgressBar> | null)?.finish();
    const files = await writeEvaluation(outDir, result, {
      model: modelDir,
      bundle: bundle ?? null,
      data: dataPath,
      executionProvider: engine.executionProvider,
    });
    console.log(
      `${evalTask} on ${result.count} inputs (${bundle ? `prefix ${bundle}` : "base model"}): ` +
        Object.entries(result.scores).map(([k, v]) => `${k} ${formatScore(v)}`).join(", "),
    );
    console.log(`wrote ${files.generations}\nwrote ${files.scores}\nwrote ${files.summary}`);
  } finally {
    await engine.dispose();
  }
}

if (import.meta.main) await runCli(main);
