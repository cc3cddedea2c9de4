/**
 * The training graphs, one per model family, behind one interface, and the one place that
 * decides which families can be trained.
 *
 * @module
 */
import { PrefixEdgeError } from "../../errors/mod.ts";
import {
  checkLlamaConfig,
  type LoadedModel,
  type ModelConfig,
  type ModelFamily,
} from "../../model/mod.ts";
import type { GpuContext } from "../../gpu/mod.ts";
import { checkGpt2Trainable, Gpt2Graph } from "./gpt2.ts";
import { LlamaGraph } from "./llama.ts";
import type { GraphChunking } from "./lm_head.ts";
import type { TrainingGraph } from "./training_graph.ts";

export type { GraphChunking } from "./lm_head.ts";
export type { TrainingGraph } from "./training_graph.ts";
export { packBatch, type PackedBatch, type TokenBatch } from "../token_batch.ts";

interface FamilyEntry {
  /** Refuse configs with maths the graph does not implement (by field name). */
  check(config: ModelConfig): void;
  create(
    ctx: GpuContext,
    model: LoadedModel,
    maxRows: number,
    chunking: GraphChunking,
  ): Promise<TrainingGraph>;
}

const FAMILIES: Record<ModelFamily, FamilyEntry> = {
  gpt2: { check: checkGpt2Trainable, create: Gpt2Graph.create },
  llama: {
    check: (c) => checkLlamaConfig(c, `Cannot train on this ${c.modelType} model`),
    create: LlamaGraph.create,
  },
};

/**
 * Check that a model can be trained, before anything is loaded onto the GPU.
 *
 * @param config the model's config
 * @throws {PrefixEdgeError} `UNSUPPORTED_MODEL` naming the family or the config field
 */
export function assertTrainable(config: ModelConfig): void {
  const entry = FAMILIES[config.family];
  if (!entry) {
    throw new PrefixEdgeError(
      "UNSUPPORTED_MODEL",
      `Cannot train a prefix on ${config.modelType}: trainable families are ${
        Object.keys(FAMILIES).join(", ")
      }`,
    );
  }
  entry.check(config);
}

/**
 * Build the training graph of the model's family.
 *
 * @throws {PrefixEdgeError} `UNSUPPORTED_MODEL`, `SAFETENSORS_CORRUPT`, `INVALID_INPUT`
 */
export function createTrainingGraph(
  ctx: GpuContext,
  model: LoadedModel,
  maxRows: number,
  chunking: GraphChunking = {},
): Promise<TrainingGraph> {
  assertTrainable(model.config);
  return FAMILIES[model.config.family].create(ctx, model, maxRows, chunking);
}
