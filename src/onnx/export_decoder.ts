/**
 * Export an HF checkpoint (config.json + model.safetensors) as the ONNX
 * decoder with past_key_values the inference engine runs, plus
 * `export.json`, the record of how it was made. No Python involved.
 *
 * Weights are read and encoded one tensor at a time. When they add up to
 * more than 2 GB (protobuf's limit for one message) they go to ONNX external
 * data (`model.onnx_data` beside the graph, each tensor 4 KiB-aligned), the
 * way ONNX Runtime expects.
 *
 * @module
 */
import { basename, dirname, join } from "pathe";
import denoJson from "../../deno.json" with { type: "json" };
import { PrefixEdgeError } from "../errors/mod.ts";
import {
  type ExportRecord,
  type LoadedModel,
  loadModel,
  type ModelConfig,
  parseConfig,
  SafetensorsFile,
} from "../model/mod.ts";
import { modelFingerprint } from "../bundle/mod.ts";
import { ORT_DOMAIN } from "./decoder_common.ts";
import { buildGpt2Decoder } from "./decoder_gpt2.ts";
import { buildLlamaDecoder } from "./decoder_llama.ts";
import {
  DecoderWeights,
  encodeWeight,
  EXPORT_DTYPES,
  type ExportDtype,
  Q4_BLOCK,
  type WeightRequest,
} from "./decoder_weights.ts";
import { ExternalData, writeChunks } from "./external_data.ts";
import { calibrationGrams } from "./calibrate.ts";
import { gptqBlocks } from "./gptq.ts";
import { GraphBuilder } from "./graph_builder.ts";
import type { TensorData } from "./proto.ts";

/** The default-domain opset of exported decoders. */
export const DECODER_OPSET = 17;
/** Above this many weight bytes, weights go to external data (protobuf's 2 GB limit). */
export const EXTERNAL_DATA_THRESHOLD = 2 ** 31 - 2 ** 24;

/** Options of {@link exportOnnx}. */
export interface ExportOptions {
  /** How weights are stored (default `f32`). */
  dtype?: ExportDtype;
  /** Output graph path (default `<model>/onnx/model.onnx`). */
  out?: string;
  /**
   * Attend with ORT's `GroupQueryAttention` over per-row lengths (a ragged graph: its
   * `attention_mask` gives each row's length, docs/onnx-export.md; default false: standard ops
   * only).
   */
  optimize?: boolean;
  /**
   * q4 only: calibrate the 4-bit matrices with GPTQ on this text (docs/onnx-export.md,
   * "Calibrated q4"). Without it they are rounded block by block.
   */
  calibration?: CalibrationOptions;
  /** Weight bytes above which external data is used (default: just under 2 GB). */
  externalDataThreshold?: number;
  /** With `calibration`: called after each batch of calibration sequences has run. */
  onCalibration?: (p: { done: number; total: number }) => void;
  /** Called after each weight tensor is written. */
  onProgress?: (p: ExportProgress) => void;
}

/**
 * Where a calibrated q4 export's calibration activations come from (docs/onnx-export.md,
 * "Calibrated q4").
 *
 * @example q4 by GPTQ on two sequences of 64 tokens of a story
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { type CalibrationOptions, exportOnnx } from "./export_decoder.ts";
 * const calibration: CalibrationOptions = {
 *   text: "Once upon a time, there was a little dog named Max. ".repeat(20),
 *   sequences: 2,
 *   tokens: 64,
 * };
 * const dir = await Deno.makeTempDir();
 * const { record } = await exportOnnx("models/stories260K", { dtype: "q4", calibration, out: `${dir}/model.onnx` });
 * assertEquals(record.options.calibration, { method: "gptq", sequences: 2, tokens: 64 });
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export interface CalibrationOptions {
  /** Text in the model's domain; its tokens are cut into the sequences. */
  text: string;
  /** Most sequences (default 32). */
  sequences?: number;
  /** Tokens per sequence, BOS included (default 128). */
  tokens?: number;
}

/** Progress of an export. */
export interface ExportProgress {
  /** Tensors written. */
  done: number;
  /** Tensors in all. */
  total: number;
  /** The HF name of the tensor just written. */
  tensor: string;
}

/**
 * How far an export's logits may be from the float32 PyTorch export of the same weights: the
 * tested bound per dtype (max |logit difference| over real positions, and relative L2), set from
 * the measured errors (docs/onnx-export.md) plus headroom. A prefix bundle serves on every export
 * of its base's weights, within these bounds.
 *
 * @example q8 trades the most precision for size
 * ```ts
 * import { ok } from "node:assert";
 * import { EXPORT_LOGIT_BOUNDS } from "./export_decoder.ts";
 * ok(EXPORT_LOGIT_BOUNDS.q8.maxAbs > EXPORT_LOGIT_BOUNDS.f16.maxAbs);
 * ```
 */
export const EXPORT_LOGIT_BOUNDS: Readonly<
  Record<ExportDtype, { readonly maxAbs: number; readonly relL2: number }>
> = Object.freeze({
  f32: { maxAbs: 1e-4, relL2: 1e-5 },
  f16: { maxAbs: 1e-2, relL2: 5e-4 },
  q8: { maxAbs: 0.4, relL2: 2e-2 },
  // 4-bit matrices of random tiny models lose ~6% each (rel. L2 up to 0.11 measured, qwen3-tiny);
  // stories260K: max |Δ| 1.34, rel. L2 3.1e-2.
  q4: { maxAbs: 2, relL2: 0.15 },
});

/** What {@link exportOnnx} wrote. */
export interface ExportResult {
  /** The graph file. */
  onnxPath: string;
  /** The external data file, if weights went there. */
  externalDataPath?: string;
  /** The export.json file. */
  recordPath: string;
  /** Its contents. */
  record: ExportRecord;
}

/**
 * Export a model folder's checkpoint as an ONNX decoder.
 *
 * @param modelDir folder with config.json and model.safetensors
 * @param opts dtype, output path, progress callback
 * @returns the files written and the export record
 * @throws {PrefixEdgeError} `FILE_NOT_FOUND` without config.json or weights,
 *   `UNSUPPORTED_MODEL` for config fields the graph does not implement,
 *   `CONFIG_INVALID` when tensor shapes disagree with config.json
 *
 * @example Export the embedded default model as f16
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { readExportRecord } from "../model/mod.ts";
 * import { exportOnnx } from "./export_decoder.ts";
 * const dir = await Deno.makeTempDir();
 * const { onnxPath, record } = await exportOnnx("models/stories260K", { dtype: "f16", out: `${dir}/model.onnx` });
 * assertEquals([record.dtype, record.source.family, record.files.graph], ["f16", "llama", "model.onnx"]);
 * assertEquals(await readExportRecord(onnxPath), record); // export.json, beside the graph
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function exportOnnx(
  modelDir: string,
  opts: ExportOptions = {},
): Promise<ExportResult> {
  const dtype = opts.dtype ?? "f32";
  if (!EXPORT_DTYPES.includes(dtype)) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      `Cannot export ONNX: dtype "${dtype}" is not one of ${EXPORT_DTYPES.join(", ")}`,
    );
  }
  const configPath = join(modelDir, "config.json");
  const weightsPath = join(modelDir, "model.safetensors");
  const configBytes = await readOrFail(configPath);
  const config = parseConfig(JSON.parse(new TextDecoder().decode(configBytes)), configPath);
  await readOrFail(weightsPath, true);
  const onnxPath = opts.out ?? join(modelDir, "onnx", "model.onnx");
  const file = await SafetensorsFile.open(weightsPath);
  try {
    // Loaded once, for the calibration text's tokenizer and the record's fingerprint.
    const model = await loadModel(modelDir);
    // Before the graph: a calibration that cannot run fails before any other work.
    const calibrated = opts.calibration
      ? await calibrate(model, config, file, dtype, opts.calibration, opts.onCalibration)
      : undefined;
    const g = new GraphBuilder(`${config.modelType}_decoder`);
    const weights = new DecoderWeights(g, file, dtype);
    const optimize = opts.optimize ?? false;
    if (config.family === "gpt2") buildGpt2Decoder(g, config, weights, optimize);
    else buildLlamaDecoder(g, config, weights, optimize);
    g.setLowering(undefined);
    const fusedOps = [
      ...(optimize ? ["GroupQueryAttention"] : []),
      ...(dtype === "q4" ? ["MatMulNBits"] : []),
    ];

    await Deno.mkdir(dirname(onnxPath), { recursive: true });
    const external = storedBytes(weights.requests, dtype) >
      (opts.externalDataThreshold ?? EXTERNAL_DATA_THRESHOLD);
    const externalName = `${basename(onnxPath)}_data`;
    const externalPath = join(dirname(onnxPath), externalName);
    const sink = external ? await ExternalData.create(externalPath, externalName) : undefined;
    try {
      let done = 0;
      for (const req of weights.requests) {
        const gram = calibrated?.grams.get(req.source);
        const gptq = gram && ((w: Float32Array, N: number, K: number) => gptqBlocks(w, N, K, gram));
        for (const t of await encodeWeight(req, file, dtype, gptq)) {
          const data: TensorData = sink ? await sink.append(t.bytes) : { raw: t.bytes };
          g.initializer(t.name, t.type, t.dims, data);
        }
        opts.onProgress?.({ done: ++done, total: weights.requests.length, tensor: req.source });
      }
    } finally {
      sink?.close();
    }
    const tool = `prefix-edge ${denoJson.version}`;
    const graphBytes = await writeChunks(
      onnxPath,
      g.toChunks({
        opset: DECODER_OPSET,
        extraOpsets: fusedOps.length ? { [ORT_DOMAIN]: 1 } : {},
        producer: "prefix-edge",
        producerVersion: denoJson.version,
      }),
    );
    const record: ExportRecord = {
      format: "prefix-edge-onnx-export",
      formatVersion: 1,
      tool,
      createdAt: new Date().toISOString(),
      dtype,
      options: {
        optimize,
        opset: DECODER_OPSET,
        externalData: external,
        fusedOps,
        ...(calibrated ? { calibration: calibrated.record } : {}),
      },
      source: {
        family: config.family,
        modelType: config.modelType,
        configSha256: await hashBytes(configBytes),
        weightsSha256: await hashFile(weightsPath),
        weightsBytes: (await Deno.stat(weightsPath)).size,
        fingerprint: (await modelFingerprint(model, "safetensors-sample-v1"))
          .sha256,
      },
      files: {
        graph: basename(onnxPath),
        graphBytes,
        ...(sink ? { externalData: externalName, externalDataBytes: sink.size } : {}),
      },
    };
    const recordPath = join(dirname(onnxPath), "export.json");
    await Deno.writeTextFile(recordPath, JSON.stringify(record, null, 2) + "\n");
    return { onnxPath, externalDataPath: sink ? externalPath : undefined, recordPath, record };
  } finally {
    file.close();
  }
}

/** Bytes the stored weights take (to choose between inline and external data). */
function storedBytes(requests: readonly WeightRequest[], dtype: ExportDtype): number {
  let n = 0;
  for (const r of requests) {
    const elems = r.dims.reduce((a, b) => a * b, 1);
    if (r.role === "vector" || dtype === "f32") n += 4 * elems;
    else if (dtype === "f16") n += 2 * elems;
    else if (r.q4) {
      const { N, K, bits } = r.q4, nb = Math.ceil(K / Q4_BLOCK);
      n += N * nb * (Q4_BLOCK * bits / 8 + 4) + (r.zeroPoints ? N * Math.ceil(nb / 2) : 0);
    } else n += elems + 4 * r.dims[r.role === "matrix" ? 1 : 0];
  }
  return n;
}

async function readOrFail(path: string, statOnly = false): Promise<Uint8Array> {
  try {
    if (statOnly) {
      await Deno.stat(path);
      return new Uint8Array();
    }
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new PrefixEdgeError("FILE_NOT_FOUND", `Cannot export ONNX: ${path} does not exist`);
    }
    throw e;
  }
}

type NodeCrypto = typeof import("node:crypto");
let nodeCrypto: Promise<NodeCrypto> | undefined;

/**
 * node:crypto, loaded where an export runs (a page never exports; the browser build must not
 * import node modules, so the specifier is not a literal its bundler would follow).
 */
function loadNodeCrypto(): Promise<NodeCrypto> {
  const name = "node:crypto";
  return nodeCrypto ??= import(name) as Promise<NodeCrypto>;
}

async function hashBytes(b: Uint8Array): Promise<string> {
  return (await loadNodeCrypto()).createHash("sha256").update(b).digest("hex");
}

async function hashFile(path: string): Promise<string> {
  const h = (await loadNodeCrypto()).createHash("sha256");
  const file = await Deno.open(path);
  for await (const chunk of file.readable) h.update(chunk); // closes the file at the end
  return h.digest("hex");
}

/**
 * Cut the calibration text's tokens into sequences (each led by BOS when the model has one) and
 * take the Gram matrices of the 4-bit matrices' inputs over them.
 */
async function calibrate(
  model: LoadedModel,
  config: ModelConfig,
  file: SafetensorsFile,
  dtype: ExportDtype,
  c: CalibrationOptions,
  onProgress?: (p: { done: number; total: number }) => void,
) {
  const tokens = c.tokens ?? 128, most = c.sequences ?? 32;
  if (dtype !== "q4") {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      `Cannot export ONNX: calibration is for q4 (GPTQ), not ${dtype}`,
    );
  }
  if (
    !(Number.isInteger(tokens) && tokens >= 2 && tokens <= config.maxPositions &&
      Number.isInteger(most) && most >= 1)
  ) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      `Cannot calibrate: tokens (${tokens}) must be an integer from 2 to the model's ${config.maxPositions} positions, and sequences (${most}) at least 1`,
    );
  }
  const tokenizer = model.requireTokenizer();
  const ids = tokenizer.encode(c.text, { addSpecialTokens: false });
  const bos = config.bosTokenId === undefined ? [] : [config.bosTokenId];
  const span = tokens - bos.length;
  const count = Math.min(most, Math.floor(ids.length / span));
  if (count === 0) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      `Cannot calibrate: the text has ${ids.length} tokens, fewer than one sequence of ${span}`,
    );
  }
  const sequences = Array.from(
    { length: count },
    (_, i) => [...bos, ...ids.slice(i * span, (i + 1) * span)],
  );
  const { grams } = await calibrationGrams(config, file, sequences, DECODER_OPSET, onProgress);
  return { grams, record: { method: "gptq" as const, sequences: count, tokens } };
}
