/**
 * Assemble the ONNX training graph of one model and one prefix method: inputs are the batch
 * and the prefix module's parameters, outputs `loss_sum` (the summed token losses) and
 * `grad.<name>` (their gradient with respect to each parameter). The prefix module's fold
 * and backward run inside the graph: at GPT-2 small with m = 512 they are matrix products of
 * [P, 18432] x [18432, 512] that ONNX Runtime's MatMul does in milliseconds, where a
 * TypeScript loop takes about a second.
 *
 * The frozen weights become initializers, read once from model.safetensors.
 *
 * @module
 */
import type { LoadedModel } from "../../model/mod.ts";
import { paramShapes, type PrefixOptions } from "../../prefix/mod.ts";
import { GraphBuilder } from "../../onnx/mod.ts";
import { DecoderWeights, encodeWeight } from "../../onnx/decoder_weights.ts";
import { checkOrtTrainable, gpt2Graph, llamaGraph } from "./families.ts";
import {
  prefixFold,
  prefixFoldBackward,
  prefixPast,
  prefixPastBackward,
  TrainGraph,
} from "./ops.ts";

/** The default-domain opset of the training graph (ScatterElements' add reduction: 16+). */
export const TRAINING_OPSET = 17;

/**
 * Build the training graph's ModelProto bytes, weights included.
 *
 * @param model the loaded base model (GPT-2 or Llama family)
 * @param options the prefix method
 * @returns the model bytes
 * @throws {PrefixEdgeError} `UNSUPPORTED_MODEL` for maths the graph does not implement
 */
export async function buildTrainingModel(
  model: LoadedModel,
  options: PrefixOptions,
): Promise<Uint8Array> {
  const c = model.config;
  checkOrtTrainable(c);
  const P = options.prefixLen;
  const shapes = paramShapes(c, options);
  const g = new GraphBuilder(`${c.modelType}_prefix_training`);
  const t = new TrainGraph(g, c);
  const file = await model.openWeights();
  try {
    const w = new DecoderWeights(g, file, "f32");
    const fold = g.scope("prefix", () => prefixFold(t, options, shapes));
    const past = Array.from({ length: c.numLayers }, (_, l) => prefixPast(t, fold.kv, P, l));
    const dPast = (c.family === "gpt2" ? gpt2Graph : llamaGraph)(t, w, past, P);
    g.scope("prefix.backward", () => {
      const dkv = prefixPastBackward(t, dPast, P);
      prefixFoldBackward(t, options, fold, dkv, shapes);
    });
    for (const req of w.requests) {
      for (const s of await encodeWeight(req, file, "f32")) {
        g.initializer(s.name, s.type, s.dims, { raw: s.bytes });
      }
    }
  } finally {
    file.close();
  }
  return g.toBytes({ opset: TRAINING_OPSET, producer: "prefix-edge" });
}
