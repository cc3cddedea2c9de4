/**
 * Assemble the ONNX training graph of one model and one prefix method: inputs are the batch
 * and the prefix module's parameters, outputs `loss_sum` (the summed token losses) and
 * `grad.<name>` (their gradient with respect to each parameter). The prefix module's fold
 * and backward run inside the graph: at GPT-2 small with m = 512 they are matrix products of
 * [P, 18432] x [18432, 512] that ONNX Runtime's MatMul does in milliseconds, where a
 * TypeScript loop takes about a second.
 *
 * The frozen weights become initializers, read from model.safetensors one tensor at a time:
 * inline for onnxruntime-web, or as ONNX external data in a file that onnxruntime-node maps.
 *
 * @module
 */
import { PrefixEdgeError } from "../../errors/mod.ts";
import {
  checkGpt2Config,
  checkLlamaConfig,
  type LoadedModel,
  type ModelConfig,
} from "../../model/mod.ts";
import { paramShapes, type PrefixOptions } from "../../prefix/mod.ts";
import { basename, dirname, join } from "pathe";
import {
  DecoderWeights,
  encodeWeight,
  ExternalData,
  GraphBuilder,
  type TensorData,
  writeChunks,
} from "../../onnx/mod.ts";
import { gpt2Graph } from "./gpt2.ts";
import { llamaGraph } from "./llama.ts";
import {
  type GraphWork,
  prefixFold,
  prefixFoldBackward,
  prefixPast,
  prefixPastBackward,
  TrainGraph,
} from "./ops.ts";

/** The default-domain opset of the training graph (ScatterElements' add reduction: 16+). */
export const TRAINING_OPSET = 17;

/**
 * Build the training graph's ModelProto bytes, weights inline (for onnxruntime-web, which
 * takes bytes).
 *
 * @param model the loaded base model (GPT-2 or Llama family)
 * @param options the prefix method
 * @param work how the graph cuts its largest products (query blocks, LM-head chunks)
 * @returns the model bytes
 * @throws {PrefixEdgeError} `UNSUPPORTED_MODEL` for maths the graph does not implement
 */
export async function buildTrainingModel(
  model: LoadedModel,
  options: PrefixOptions,
  work: GraphWork,
): Promise<Uint8Array> {
  const g = await assemble(model, options, work, (bytes) => Promise.resolve({ raw: bytes }));
  return g.toBytes({ opset: TRAINING_OPSET, producer: "prefix-edge" });
}

/**
 * Write the training graph to `onnxPath`, its weights to `<onnxPath>_data` (ONNX external
 * data), one tensor at a time: no buffer ever holds more than one weight, and ONNX Runtime,
 * given the path, maps the weights from the file itself.
 *
 * @param model the loaded base model (GPT-2 or Llama family)
 * @param options the prefix method
 * @param work how the graph cuts its largest products (query blocks, LM-head chunks)
 * @param onnxPath where the graph goes (its folder must exist)
 * @throws {PrefixEdgeError} `UNSUPPORTED_MODEL` for maths the graph does not implement
 */
export async function writeTrainingModel(
  model: LoadedModel,
  options: PrefixOptions,
  work: GraphWork,
  onnxPath: string,
): Promise<void> {
  const location = `${basename(onnxPath)}_data`;
  const sink = await ExternalData.create(join(dirname(onnxPath), location), location);
  let g: GraphBuilder;
  try {
    g = await assemble(model, options, work, (bytes) => sink.append(bytes));
  } finally {
    sink.close();
  }
  await writeChunks(onnxPath, g.toChunks({ opset: TRAINING_OPSET, producer: "prefix-edge" }));
}

/** The graph, each frozen weight read from model.safetensors and handed to `store` in turn. */
async function assemble(
  model: LoadedModel,
  options: PrefixOptions,
  work: GraphWork,
  store: (bytes: Uint8Array) => Promise<TensorData>,
): Promise<GraphBuilder> {
  const c = model.config;
  checkOrtTrainable(c);
  const P = options.prefixLen;
  const shapes = paramShapes(c, options);
  const g = new GraphBuilder(`${c.modelType}_prefix_training`);
  const t = new TrainGraph(g, c, work);
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
        g.initializer(s.name, s.type, s.dims, await store(s.bytes));
      }
    }
  } finally {
    file.close();
  }
  return g;
}

/**
 * Refuse configs the ONNX training graph does not implement.
 *
 * @param c the model config
 * @throws {PrefixEdgeError} `UNSUPPORTED_MODEL` naming the field
 */
export function checkOrtTrainable(c: ModelConfig): void {
  const doing = `Cannot train on this ${c.modelType} model`;
  if (c.family === "gpt2") checkGpt2Config(c, doing);
  else if (c.family === "llama") checkLlamaConfig(c, doing);
  else {
    throw new PrefixEdgeError(
      "UNSUPPORTED_MODEL",
      `Cannot train a prefix on ${c.modelType}: trainable families are gpt2, llama`,
    );
  }
}
