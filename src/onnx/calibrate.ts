/**
 * Calibration for the q4 export's GPTQ ({@link gptqBlocks}): the Gram matrix `X^T X` of the
 * inputs X of every projection and MLP matrix, over token sequences of the user's text, computed
 * by ONNX Runtime on the model's own float32 graph.
 *
 * The graph is the export's f32 decoder with one extra output per distinct matrix input (the
 * query, key and value projections share theirs): `Transpose(X) @ X` over all rows of the batch.
 * ORT computes it at its matmul rate; only the `[K, K]` sums come back.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import { loadOrtBackend, type OrtBackend, type OrtTensor } from "../infer/ort_backend.ts";
import type { ModelConfig, SafetensorsFile } from "../model/mod.ts";
import { buildGpt2Decoder } from "./decoder_gpt2.ts";
import { buildLlamaDecoder } from "./decoder_llama.ts";
import { DecoderWeights, encodeWeight } from "./decoder_weights.ts";
import { GraphBuilder } from "./graph_builder.ts";

/** Sequences per ORT run: enough rows for the products, little memory for activations. */
const SEQUENCES_PER_RUN = 8;

/** What {@link calibrationGrams} found. */
export interface CalibrationGrams {
  /**
   * Each matrix's (by its safetensors name) input Gram matrix `[K, K]`, row-major. Float32, as
   * ORT computes each run's: half the memory of float64 (0.5 GB less for GPT-2 small, at the
   * export's peak), and GPTQ damps the diagonal by 1% anyway.
   */
  grams: Map<string, Float32Array>;
  /** Where ORT ran. */
  executionProvider: "native" | "wasm";
}

/**
 * Run the model's float32 graph on `sequences` and sum `X^T X` of every matrix input.
 *
 * @param config the model's config
 * @param file its model.safetensors
 * @param sequences token ids, all of one length
 * @param opset the graph's default-domain opset
 * @param onProgress called after each ORT run with the sequences done
 * @returns the Gram matrix of each projection and MLP matrix, by safetensors name
 * @throws {PrefixEdgeError} `INVALID_INPUT` when there are no sequences or their lengths differ
 */
export async function calibrationGrams(
  config: ModelConfig,
  file: SafetensorsFile,
  sequences: number[][],
  opset: number,
  onProgress?: (p: { done: number; total: number }) => void,
): Promise<CalibrationGrams> {
  const T = sequences[0]?.length ?? 0;
  if (T === 0 || sequences.some((s) => s.length !== T)) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      "Cannot calibrate: the sequences must be non-empty and of one length",
    );
  }
  // Built in a function of its own: the builder's float32 weights are not needed once ORT has
  // its copy.
  const { backend, ep, session, gramOf, sourceToGram } = await calibrationSession(
    config,
    file,
    opset,
  );
  const sums = new Map<string, Float32Array>();
  try {
    for (let at = 0; at < sequences.length; at += SEQUENCES_PER_RUN) {
      const batch = sequences.slice(at, at + SEQUENCES_PER_RUN);
      const out = await session.run(feedsFor(backend, session.inputNames, batch, config), [
        ...gramOf.values(),
      ]);
      for (const gram of gramOf.values()) {
        const data = out[gram].data as Float32Array; // a fresh array of this run's own
        const sum = sums.get(gram);
        if (!sum) sums.set(gram, data);
        else for (let i = 0; i < data.length; i++) sum[i] += data[i];
      }
      onProgress?.({ done: at + batch.length, total: sequences.length });
    }
  } finally {
    await session.release();
  }
  const grams = new Map<string, Float32Array>();
  for (const [source, gram] of sourceToGram) grams.set(source, sums.get(gram)!);
  return { grams, executionProvider: ep };
}

/**
 * The model's f32 graph with a `X^T X` output per distinct matrix input, as an ORT session.
 *
 * @returns the session; which output holds each input's Gram matrix, and which Gram output each
 *   matrix (by its safetensors name) reads
 */
async function calibrationSession(config: ModelConfig, file: SafetensorsFile, opset: number) {
  const g = new GraphBuilder(`${config.modelType}_calibration`);
  const weights = new DecoderWeights(g, file, "f32");
  // Which value each weight is multiplied by, seen as the decoder is built.
  const readers = new Map<string, string>();
  g.setLowering((node) => {
    if (node.opType === "MatMul") readers.set(node.inputs[1], node.inputs[0]);
    return undefined;
  });
  if (config.family === "gpt2") buildGpt2Decoder(g, config, weights, false);
  else buildLlamaDecoder(g, config, weights, false);
  g.setLowering(undefined);

  const gramOf = new Map<string, string>(); // input value -> its Gram output
  const sourceToGram = new Map<string, string>();
  for (const req of weights.requests) {
    const x = readers.get(req.initializer);
    if (req.role !== "matrix" || x === undefined) continue;
    const K = req.dims[0]; // f32 `MatMul(x, W)` reads W as [in, out]
    let gram = gramOf.get(x);
    if (!gram) {
      const rows = g.op("Reshape", [x, g.int64s([-1, K])]);
      gram = g.op("MatMul", [g.op("Transpose", [rows], { perm: [1, 0] }), rows]);
      g.output(gram, "float32", [K, K]);
      gramOf.set(x, gram);
    }
    sourceToGram.set(req.source, gram);
  }
  for (const req of weights.requests) {
    for (const t of await encodeWeight(req, file, "f32")) {
      g.initializer(t.name, t.type, t.dims, { raw: t.bytes });
    }
  }
  const { backend, ep } = await cpuBackend();
  const session = await backend.createSession(g.toBytes({ opset }), {
    graphOptimizationLevel: "all",
    logSeverityLevel: 3,
  });
  return { backend, ep, session, gramOf, sourceToGram };
}

/** Native ORT where it loads, else WASM. */
async function cpuBackend(): Promise<{ backend: OrtBackend; ep: "native" | "wasm" }> {
  try {
    return { backend: await loadOrtBackend("native"), ep: "native" };
  } catch {
    return { backend: await loadOrtBackend("wasm"), ep: "wasm" };
  }
}

/** One full forward's feeds: the rows, no padding, positions from 0, empty caches. */
function feedsFor(
  backend: OrtBackend,
  inputNames: readonly string[],
  rows: number[][],
  c: ModelConfig,
): Record<string, OrtTensor> {
  const B = rows.length, T = rows[0].length;
  const i64 = (f: (b: number, t: number) => number) =>
    backend.tensor(
      "int64",
      BigInt64Array.from({ length: B * T }, (_, i) => BigInt(f(Math.floor(i / T), i % T))),
      [B, T],
    );
  const feeds: Record<string, OrtTensor> = {};
  for (const name of inputNames) {
    if (name === "input_ids") feeds[name] = i64((b, t) => rows[b][t]);
    else if (name === "attention_mask") feeds[name] = i64(() => 1);
    else if (name === "position_ids") feeds[name] = i64((_, t) => t);
    else if (name.startsWith("past_key_values.")) {
      feeds[name] = backend.tensor("float32", new Float32Array(0), [B, c.numKvHeads, 0, c.headDim]);
    } else throw new Error(`calibrationGrams: the f32 graph has an unexpected input "${name}"`);
  }
  return feeds;
}
