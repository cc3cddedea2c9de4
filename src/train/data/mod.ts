/** Training data: adapters, tokenization with masked labels, bucketing and seeded shuffling. @module */
export type { TextExample, TokenizedExample } from "./example.ts";
export { parseJsonl, readJsonl } from "./read_jsonl.ts";
export { linearizeE2eMr, parseE2eCsv, readE2eCsv } from "./e2e_csv.ts";
export {
  GLUE_TASKS,
  GLUE_VERBALIZERS,
  type GlueTask,
  glueTaskFromPath,
  parseGlueTsv,
  readGlueTsv,
} from "./glue_tsv.ts";
export {
  DATA_FORMATS,
  type DataFormat,
  guessDataFormat,
  type LoadedExamples,
  loadExamples,
  parseExamples,
  readSlotValues,
  separatorFor,
  SLOTS_FILE,
} from "./load_examples.ts";
export {
  type EncodeOnly,
  IGNORE_INDEX,
  tokenizeDataset,
  type TokenizeDatasetOptions,
  type TokenizedDataset,
  tokenizeExample,
} from "./tokenize_dataset.ts";
export { mixSeed, Rng } from "./rng.ts";
export { collateBatch, type EpochPlanOptions, type PaddedBatch, planEpoch } from "./batches.ts";
export { prepareDataset } from "./prepare_dataset.ts";
export { taskUsage } from "./task_usage.ts";
