/**
 * Parse an HF `config.json` into the shapes the SDK needs, for the GPT-2 and
 * Llama families. The Llama family covers its close relatives as named
 * features: Qwen2 (biases on q, k, v), Qwen3 (a per-head q/k RMSNorm and an
 * explicit `head_dim`) and Llama 3 (`rope_scaling` of type `llama3`).
 * Everything downstream (prefix width, KV layout, context budget, the
 * exporter and the training graphs) reads this normalized form, never the raw
 * JSON; {@link unsupportedFeature} is the one list of fields they refuse.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";

/** Architecture families the SDK knows. */
export type ModelFamily = "gpt2" | "llama";

/** A normalized model configuration. Letters follow docs/design.md (L, H, hd, D). */
export interface ModelConfig {
  /** Family, from `model_type`. */
  family: ModelFamily;
  /** `model_type` as written in config.json. */
  modelType: string;
  /** L: number of transformer layers. */
  numLayers: number;
  /** Number of query heads. */
  numHeads: number;
  /** H: number of key/value heads (GPT-2: equals numHeads). */
  numKvHeads: number;
  /** hd: size of one head. */
  headDim: number;
  /** d_model: width of the residual stream. */
  hiddenSize: number;
  /** Width of the MLP's hidden layer. */
  intermediateSize: number;
  /** Maximum number of positions (prefix included). */
  maxPositions: number;
  /** Vocabulary size. */
  vocabSize: number;
  /** Epsilon of LayerNorm (GPT-2) or RMSNorm (Llama). */
  normEps: number;
  /** MLP activation (`gelu_new` for GPT-2, `silu` for Llama). */
  activation: string;
  /** Whether the LM head shares the token embedding matrix. */
  tieWordEmbeddings: boolean;
  /** RoPE base (Llama family only). */
  ropeTheta?: number;
  /** Llama 3 RoPE frequency scaling, when `rope_scaling.rope_type` is `llama3`. */
  ropeScaling?: Llama3RopeScaling;
  /** Llama family: biases on the q, k and v projections (Qwen2), none on o. GPT-2's attention
   * always has its biases and leaves this false. */
  qkvBias: boolean;
  /** An RMSNorm over `head_dim` on every query and key head, before RoPE (Qwen3). */
  qkNorm: boolean;
  /** BOS token id, if the config names one. */
  bosTokenId?: number;
  /** EOS token ids (a config may list several). */
  eosTokenIds: number[];
  /** The raw config.json, for fingerprints and tools. */
  raw: Record<string, unknown>;
}

/** Llama 3's RoPE scaling (`rope_scaling` with `rope_type: "llama3"`). */
export interface Llama3RopeScaling {
  /** Always `llama3`. */
  type: "llama3";
  /** How much longer the context is than the original one. */
  factor: number;
  /** Wavelengths above `originalMaxPositions / lowFreqFactor` are divided by `factor`. */
  lowFreqFactor: number;
  /** Wavelengths below `originalMaxPositions / highFreqFactor` are kept. */
  highFreqFactor: number;
  /** The context length the model was first trained with. */
  originalMaxPositions: number;
}

/**
 * D = H * hd: the width of one layer's key (or value) for one prefix token.
 *
 * @param config a parsed model config
 * @returns D
 */
export function kvWidth(config: ModelConfig): number {
  return config.numKvHeads * config.headDim;
}

/**
 * S = 2 * L * D: the width of one folded prefix token across all layers.
 *
 * @param config a parsed model config
 * @returns S
 */
export function prefixWidth(config: ModelConfig): number {
  return 2 * config.numLayers * kvWidth(config);
}

const GPT2_TYPES = new Set(["gpt2"]);
const LLAMA_TYPES = new Set(["llama", "qwen2", "qwen3"]);

/**
 * Parse and validate an HF config object.
 *
 * @param raw the parsed JSON of config.json
 * @param source where it came from, for error messages
 * @returns the normalized config
 * @throws {PrefixEdgeError} `UNSUPPORTED_MODEL` for unknown `model_type`,
 *   `CONFIG_INVALID` for missing or inconsistent fields
 */
export function parseConfig(raw: unknown, source = "config.json"): ModelConfig {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new PrefixEdgeError("CONFIG_INVALID", `Cannot parse ${source}: it is not a JSON object`);
  }
  const obj = raw as Record<string, unknown>;
  const modelType = obj.model_type;
  if (typeof modelType !== "string") {
    throw new PrefixEdgeError("CONFIG_INVALID", `Cannot parse ${source}: "model_type" is missing`);
  }
  if (GPT2_TYPES.has(modelType)) return parseGpt2(obj, modelType, source);
  if (LLAMA_TYPES.has(modelType)) return parseLlama(obj, modelType, source);
  throw new PrefixEdgeError(
    "UNSUPPORTED_MODEL",
    `Cannot load model from ${source}: model_type "${modelType}" is not supported (supported: gpt2, llama, qwen2, qwen3)`,
  );
}

function parseGpt2(obj: Record<string, unknown>, modelType: string, source: string): ModelConfig {
  const f = new FieldReader(obj, source);
  const numLayers = f.int("n_layer");
  const numHeads = f.int("n_head");
  const hiddenSize = f.int("n_embd");
  if (hiddenSize % numHeads !== 0) {
    throw new PrefixEdgeError(
      "CONFIG_INVALID",
      `Cannot parse ${source}: n_embd (${hiddenSize}) is not divisible by n_head (${numHeads})`,
    );
  }
  const activation = f.optString("activation_function") ?? "gelu_new";
  return {
    family: "gpt2",
    modelType,
    numLayers,
    numHeads,
    numKvHeads: numHeads,
    headDim: hiddenSize / numHeads,
    hiddenSize,
    intermediateSize: f.optInt("n_inner") ?? 4 * hiddenSize,
    maxPositions: f.int("n_positions"),
    vocabSize: f.int("vocab_size"),
    normEps: f.optNumber("layer_norm_epsilon") ?? 1e-5,
    activation,
    tieWordEmbeddings: f.optBool("tie_word_embeddings") ?? true,
    qkvBias: false,
    qkNorm: false,
    bosTokenId: f.optTokenId("bos_token_id"),
    eosTokenIds: f.tokenIds("eos_token_id"),
    raw: obj,
  };
}

function parseLlama(obj: Record<string, unknown>, modelType: string, source: string): ModelConfig {
  const f = new FieldReader(obj, source);
  const numLayers = f.int("num_hidden_layers");
  const numHeads = f.int("num_attention_heads");
  const numKvHeads = f.optInt("num_key_value_heads") ?? numHeads;
  const hiddenSize = f.int("hidden_size");
  const headDim = f.optInt("head_dim") ?? hiddenSize / numHeads;
  if (!Number.isInteger(headDim)) {
    throw new PrefixEdgeError(
      "CONFIG_INVALID",
      `Cannot parse ${source}: hidden_size (${hiddenSize}) is not divisible by num_attention_heads (${numHeads}) and head_dim is absent`,
    );
  }
  if (numHeads % numKvHeads !== 0) {
    throw new PrefixEdgeError(
      "CONFIG_INVALID",
      `Cannot parse ${source}: num_attention_heads (${numHeads}) is not a multiple of num_key_value_heads (${numKvHeads})`,
    );
  }
  return {
    family: "llama",
    modelType,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    hiddenSize,
    intermediateSize: f.int("intermediate_size"),
    maxPositions: f.int("max_position_embeddings"),
    vocabSize: f.int("vocab_size"),
    normEps: f.optNumber("rms_norm_eps") ?? 1e-6,
    activation: f.optString("hidden_act") ?? "silu",
    tieWordEmbeddings: f.optBool("tie_word_embeddings") ?? false,
    ropeTheta: f.optNumber("rope_theta") ?? 10000,
    ropeScaling: parseRopeScaling(obj.rope_scaling, source),
    qkvBias: modelType === "qwen2",
    qkNorm: modelType === "qwen3",
    bosTokenId: f.optTokenId("bos_token_id"),
    eosTokenIds: f.tokenIds("eos_token_id"),
    raw: obj,
  };
}

/** The `rope_scaling` types {@link unsupportedFeature} accepts. */
function ropeScalingType(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "object" || Array.isArray(v)) return String(v);
  const o = v as Record<string, unknown>;
  const t = o.rope_type ?? o.type;
  return typeof t === "string" ? t : JSON.stringify(t);
}

function parseRopeScaling(v: unknown, source: string): Llama3RopeScaling | undefined {
  if (ropeScalingType(v) !== "llama3") return undefined;
  const f = new FieldReader(v as Record<string, unknown>, `${source} rope_scaling`);
  const positive = (key: string) => {
    const x = f.optNumber(key);
    if (x === undefined || x <= 0) {
      throw new PrefixEdgeError(
        "CONFIG_INVALID",
        `Cannot parse ${source}: rope_scaling.${key} must be a positive number, got ${
          JSON.stringify(x)
        }`,
      );
    }
    return x;
  };
  const scaling: Llama3RopeScaling = {
    type: "llama3",
    factor: positive("factor"),
    lowFreqFactor: positive("low_freq_factor"),
    highFreqFactor: positive("high_freq_factor"),
    originalMaxPositions: f.int("original_max_position_embeddings"),
  };
  if (scaling.highFreqFactor <= scaling.lowFreqFactor) {
    throw new PrefixEdgeError(
      "CONFIG_INVALID",
      `Cannot parse ${source}: rope_scaling.high_freq_factor (${scaling.highFreqFactor}) must exceed low_freq_factor (${scaling.lowFreqFactor})`,
    );
  }
  return scaling;
}

/** A config field whose maths the SDK does not implement, with its value and what it means. */
export interface UnsupportedFeature {
  /** The config.json field. */
  field: string;
  /** Its value. */
  value: unknown;
  /** What the field asks for, in a few words. */
  why: string;
}

const unset = (v: unknown) => v === undefined || v === null || v === false;

/**
 * The first config field that asks for maths the exporter and the training graphs do not
 * implement, or `undefined`. One list for every place that builds the model's maths, so a
 * config is refused by the same field everywhere. (Inference on a graph exported elsewhere
 * needs none of this maths and loads regardless.)
 *
 * @example A Llama 3 scaling is implemented; YaRN is not
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { parseConfig, unsupportedFeature } from "./config.ts";
 * const base = {
 *   model_type: "llama", num_hidden_layers: 2, num_attention_heads: 4, hidden_size: 64,
 *   intermediate_size: 96, max_position_embeddings: 128, vocab_size: 600,
 * };
 * const llama3 = { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4,
 *   original_max_position_embeddings: 8192 };
 * assertEquals(unsupportedFeature(parseConfig({ ...base, rope_scaling: llama3 })), undefined);
 * const yarn = parseConfig({ ...base, rope_scaling: { rope_type: "yarn", factor: 4 } });
 * assertEquals(unsupportedFeature(yarn)?.field, "rope_scaling");
 * ```
 *
 * @param config a parsed config
 * @returns the field, its value and what it asks for; `undefined` when all is implemented
 */
export function unsupportedFeature(config: ModelConfig): UnsupportedFeature | undefined {
  const r = config.raw;
  const found = (field: string, why: string): UnsupportedFeature => ({
    field,
    value: r[field],
    why,
  });
  // GPT-2's activations differ by consumer (the exporter has gelu too): each checks its own.
  if (config.family === "gpt2") return undefined;
  const scaling = ropeScalingType(r.rope_scaling);
  if (scaling !== undefined && scaling !== "llama3" && scaling !== "default") {
    return found("rope_scaling", `RoPE scaling of type ${scaling}`);
  }
  // Qwen2 always has q/k/v biases; elsewhere attention_bias also puts one on o_proj.
  if (config.modelType !== "qwen2" && !unset(r.attention_bias)) {
    return found("attention_bias", "biases on q/k/v/o");
  }
  if (!unset(r.mlp_bias)) return found("mlp_bias", "biases in the MLP");
  if (!unset(r.use_sliding_window)) return found("use_sliding_window", "sliding-window attention");
  // Qwen configs name a window size that only use_sliding_window switches on.
  if (config.modelType === "llama" && !unset(r.sliding_window)) {
    return found("sliding_window", "sliding-window attention");
  }
  if (typeof r.pretraining_tp === "number" && r.pretraining_tp > 1) {
    return found("pretraining_tp", "tensor-parallel slicing of the projections");
  }
  if (config.activation !== "silu") return found("hidden_act", "an MLP activation other than silu");
  return undefined;
}

/**
 * Throw for the first field {@link unsupportedFeature} names, so every place that builds the
 * model's maths refuses a config with the same words.
 *
 * @example Before building a graph
 * ```ts
 * import { assertImplemented, parseConfig } from "./config.ts";
 * const config = parseConfig({
 *   model_type: "qwen2", num_hidden_layers: 2, num_attention_heads: 4, hidden_size: 64,
 *   intermediate_size: 96, max_position_embeddings: 128, vocab_size: 600,
 * });
 * assertImplemented(config, "Cannot export ONNX"); // Qwen2 is implemented: no error
 * ```
 *
 * @param config a parsed config
 * @param doing what the caller was about to do, e.g. "Cannot export ONNX"
 * @throws {PrefixEdgeError} `UNSUPPORTED_MODEL` naming the field and its value
 */
export function assertImplemented(config: ModelConfig, doing: string): void {
  const bad = unsupportedFeature(config);
  if (bad) {
    throw new PrefixEdgeError(
      "UNSUPPORTED_MODEL",
      `${doing}: config field "${bad.field}" = ${
        JSON.stringify(bad.value)
      } (${bad.why}) is not implemented`,
    );
  }
}

/** Reads typed fields and names the field and file in every error. */
class FieldReader {
  constructor(private obj: Record<string, unknown>, private source: string) {}

  private fail(key: string, why: string): never {
    throw new PrefixEdgeError("CONFIG_INVALID", `Cannot parse ${this.source}: "${key}" ${why}`);
  }

  int(key: string): number {
    const v = this.obj[key];
    if (v === undefined || v === null) this.fail(key, "is missing");
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) {
      this.fail(key, `must be a positive integer, got ${JSON.stringify(v)}`);
    }
    return v;
  }

  optInt(key: string): number | undefined {
    const v = this.obj[key];
    return v === undefined || v === null ? undefined : this.int(key);
  }

  /** A token id: a non-negative integer (0 is a valid id). */
  optTokenId(key: string): number | undefined {
    const v = this.obj[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
      this.fail(key, `must be a token id, got ${JSON.stringify(v)}`);
    }
    return v;
  }

  optNumber(key: string): number | undefined {
    const v = this.obj[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "number" || !Number.isFinite(v)) {
      this.fail(key, `must be a number, got ${JSON.stringify(v)}`);
    }
    return v;
  }

  optString(key: string): string | undefined {
    const v = this.obj[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "string") this.fail(key, `must be a string, got ${JSON.stringify(v)}`);
    return v;
  }

  optBool(key: string): boolean | undefined {
    const v = this.obj[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "boolean") this.fail(key, `must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  tokenIds(key: string): number[] {
    const v = this.obj[key];
    if (v === undefined || v === null) return [];
    const list = Array.isArray(v) ? v : [v];
    for (const id of list) {
      if (typeof id !== "number" || !Number.isInteger(id) || id < 0) {
        this.fail(key, `must be a token id or a list of them, got ${JSON.stringify(v)}`);
      }
    }
    return list as number[];
  }
}
