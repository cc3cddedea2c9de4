/**
 * The trainer used when the caller injects none: the WebGPU `PrefixTrainer`.
 *
 * @module
 */
import { PrefixTrainer } from "../gpu_trainer.ts";
import type { TrainerFactory } from "./trainer_contract.ts";

/** Builds the WebGPU trainer (`PrefixTrainer.create`). */
export const defaultTrainerFactory: TrainerFactory = (model, prefixModule, options) =>
  PrefixTrainer.create(model, prefixModule, options);
