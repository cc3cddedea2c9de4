/**
 * Parse an HF `config.json` into the shapes the SDK needs, for the GPT-2 and
 * Llama families. Everything downstream (prefix width, KV layout, context
 * budget) reads this normalized form, never the raw JSON.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";

/** Architecture families the SDK knows. */
export type ModelFamily = "gpt2" | "llama";

/** A normalized model configuration. Letters follow DESIGN.md (L, H, hd, D). */
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
  /** RoPE base (Llama only). */
  ropeTheta?: number;
  /** BOS token id, if the config names one. */
  bosTokenId?: number;
  /** EOS token ids (a config may list several). */
  eosTokenIds: number[];
  /** The raw config.json, for fingerprints and tools. */
  raw: Record<string, unknown>;
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
const LLAMA_TYPES = new Set(["llama"]);

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
    `Cannot load model from ${source}: model_type "${modelType}" is not supported (supported: gpt2, llama)`,
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
    bosTokenId: f.optTokenId("bos_token_id"),
    eosTokenIds: f.tokenIds("eos_token_id"),
    raw: obj,
  };
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
