/**
 * `manifest.json` of a prefix bundle: its type and the validation every
 * reader runs before looking at the tensor. The spec is docs/bundle-format.md.
 *
 * Validation is strict about the fields it knows (types, ranges, required)
 * and tolerant of fields it does not know: they are kept as they are, so a
 * newer minor writer's additions survive a read/convert/write cycle.
 *
 * @module
 */
import { BundleError } from "./bundle_error.ts";

/** The `format` string every bundle's manifest carries. */
export const BUNDLE_FORMAT = "prefix-edge.prefix-bundle";
/** The format version this reader writes and understands. */
export const BUNDLE_FORMAT_VERSION = 1;
/** Largest manifest.json accepted, in bytes. */
export const MAX_MANIFEST_BYTES = 1 << 20;

/** How the stored `kv` is encoded. */
export type BundleDtype = "F32" | "F16" | "I8";

/**
 * Every stored dtype, in the order help texts list them.
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert";
 * import { BUNDLE_DTYPES } from "./manifest.ts";
 * deepStrictEqual(BUNDLE_DTYPES, ["F32", "F16", "I8"]);
 * ```
 */
export const BUNDLE_DTYPES: readonly BundleDtype[] = Object.freeze(["F32", "F16", "I8"]);

/** Prefix-module variants (docs/design.md §1). */
export type BundleReparam = "none" | "mlp" | "residual";

/** How a base model's fingerprint was computed (see `modelFingerprint`). */
export type FingerprintKind = "safetensors-sample-v1" | "onnx-sample-v1";

/** One fingerprint of a base model. */
export interface BaseFingerprint {
  /** Which files were sampled (readers keep kinds they do not know). */
  kind: FingerprintKind | (string & Record<never, never>);
  /** sha256, lowercase hex. */
  sha256: string;
}

/** The method that produced the prefix; the bundle stores only the folded result. */
export interface BundleMethod {
  /** Prefix-module reparameterization used in training. */
  reparam: BundleReparam;
  /** Whether per-token gates were trained (already folded into `kv`). */
  gate: boolean;
  /** Hidden width of the reparameterization MLP, or `null` for `none`. */
  midDim: number | null;
  /** Final gate values `g = sigmoid(a)`, length P, when `gate` is true. */
  gates?: number[];
}

/** Free-form facts about training. Every field is optional. */
export interface BundleTraining {
  /** What the prefix was trained on (a file name, a dataset id, a description). */
  data?: string;
  /** Optimizer steps taken. */
  steps?: number;
  /** Loss at the last step. */
  finalLoss?: number;
  /** Evaluation metrics by name. */
  metrics?: Record<string, number>;
  /** Anything else. */
  [key: string]: unknown;
}

/**
 * How the prefix was trained to be prompted (optional; bundles written before it have none, and
 * are prompted as given). Servers, `generate` and `eval` apply it: a task's input becomes
 * `template` with `{input}` replaced.
 */
export interface BundlePrompt {
  /** The prompt's layout, `{input}` standing for the task's input, e.g. `"{input} ||"`. */
  template: string;
  /** The text between input and output (the template's tail), e.g. `" ||"`. */
  separator: string;
  /** Whether the tokenizer's special tokens (Llama's BOS) were added, as `encode` does by default. */
  addSpecialTokens: boolean;
  /** One input from the training data, to show users what an input looks like. */
  exampleInput?: string;
}

/**
 * Generation defaults that suit the task (optional). A request's own parameters win; the ones it
 * leaves out come from here, as vLLM applies a model's `generation_config.json`.
 */
export interface BundleGeneration {
  /** 0 = greedy. */
  temperature: number;
  /** New tokens at most. */
  maxNewTokens: number;
  /** Stop strings (may be empty). */
  stop: string[];
  /** The token ids that end an output, as training appended them. */
  eosTokenIds: number[];
}

/** Architecture numbers of the base model, checked against the loaded model. */
export interface BaseArchitecture {
  /** `gpt2` or `llama` (Qwen2 and Qwen3 are the llama family with the features below). */
  family: string;
  /** L */
  numLayers: number;
  /** Query heads. */
  numHeads: number;
  /** H: key/value heads. */
  numKvHeads: number;
  /** hd */
  headDim: number;
  /** d_model */
  hiddenSize: number;
  /** MLP width. */
  intermediateSize: number;
  /** Vocabulary size. */
  vocabSize: number;
  /** Positions, prefix included. */
  maxPositions: number;
  /** Present (true) only for models with biases on q, k and v (Qwen2). */
  qkvBias?: boolean;
  /** Present (true) only for models with a per-head q/k norm (Qwen3). */
  qkNorm?: boolean;
  /** Present only for scaled RoPE, e.g. `llama3 factor=8 low=1 high=4 original=8192`. */
  ropeScaling?: string;
}

/** The base model a bundle was made for. */
export interface BundleBase {
  /** A name for humans (e.g. `gpt2`, the HF id); not used to verify. */
  name: string | null;
  /** Architecture numbers. */
  architecture: BaseArchitecture;
  /** The primary fingerprint. */
  fingerprint: BaseFingerprint;
  /** Fingerprints of other kinds, when the model folder allowed computing them. */
  otherFingerprints?: BaseFingerprint[];
}

/** `manifest.json`, format version 1. Unknown fields are kept as read. */
export interface BundleManifest {
  /** Always {@link BUNDLE_FORMAT}. */
  format: string;
  /** Always {@link BUNDLE_FORMAT_VERSION} for this reader. */
  formatVersion: number;
  /** Task name (what a server routes on). */
  task: string;
  /** ISO-8601 creation time. */
  createdAt: string;
  /** The SDK that wrote it (informative). */
  writer?: string;
  /** P. */
  prefixLen: number;
  /** L. */
  numLayers: number;
  /** H (key/value heads). */
  numKvHeads: number;
  /** hd. */
  headDim: number;
  /** Encoding of `kv` in prefix.safetensors. */
  dtype: BundleDtype;
  /** Always `"P,2L,H,hd"`: slot 2l = key, 2l+1 = value of layer l. */
  layout: string;
  /** Always `"prefix-first"`: prefix at positions 0..P-1, tokens from P. */
  positions: string;
  /** Base model identity. */
  base: BundleBase;
  /** sha256 of the base's tokenizer files, or `null` when it had none. */
  tokenizerFingerprint: string | null;
  /** Training method. */
  method: BundleMethod;
  /** Training facts. */
  training: BundleTraining;
  /** sha256 (lowercase hex) of the uncompressed prefix.safetensors. */
  sha256: string;
  /** How to prompt the prefix (absent in bundles written before it was recorded). */
  prompt?: BundlePrompt;
  /** Generation defaults for the task (absent in older bundles). */
  generation?: BundleGeneration;
  /** Unknown fields, kept as read. */
  [key: string]: unknown;
}

/** The layout string version 1 writes. */
export const KV_LAYOUT = "P,2L,H,hd";
/** The position convention version 1 writes. */
export const POSITIONS = "prefix-first";

type Obj = Record<string, unknown>;

/**
 * Parse and validate manifest.json.
 *
 * @param bytes the file's bytes
 * @param file bundle name for errors
 * @returns the manifest, unknown fields kept
 * @throws {BundleError} `BUNDLE_CORRUPT` for invalid JSON, a missing or
 *   mistyped field, or a foreign format; `BUNDLE_VERSION` for another version
 */
export function parseManifest(bytes: Uint8Array, file: string): BundleManifest {
  const bad = (why: string): never => {
    throw new BundleError("BUNDLE_CORRUPT", file, `Cannot read manifest.json of ${file}: ${why}`);
  };
  let m: unknown;
  try {
    m = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    return bad(`not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (!isObj(m)) return bad("it is not a JSON object");
  if (m.format !== BUNDLE_FORMAT) {
    bad(`format is ${JSON.stringify(m.format)}, expected "${BUNDLE_FORMAT}"`);
  }
  // The version is checked before any other field: a newer version may have renamed them.
  if (!Number.isInteger(m.formatVersion)) {
    bad(`formatVersion is ${JSON.stringify(m.formatVersion)}, not an integer`);
  }
  if (m.formatVersion !== BUNDLE_FORMAT_VERSION) {
    throw new BundleError(
      "BUNDLE_VERSION",
      file,
      `Cannot read ${file}: it is format version ${m.formatVersion}, this reader understands version ${BUNDLE_FORMAT_VERSION}`,
    );
  }
  const req = (o: Obj, key: string, path: string): unknown => {
    if (!(key in o) || o[key] === undefined) bad(`missing required field "${path}${key}"`);
    return o[key];
  };
  const str = (o: Obj, key: string, path = ""): string => {
    const v = req(o, key, path);
    if (typeof v !== "string") bad(`"${path}${key}" is ${JSON.stringify(v)}, not a string`);
    return v as string;
  };
  const int = (o: Obj, key: string, path = "", min = 1): number => {
    const v = req(o, key, path);
    if (!Number.isSafeInteger(v) || (v as number) < min) {
      bad(`"${path}${key}" is ${JSON.stringify(v)}, not an integer >= ${min}`);
    }
    return v as number;
  };
  const obj = (o: Obj, key: string, path = ""): Obj => {
    const v = req(o, key, path);
    if (!isObj(v)) bad(`"${path}${key}" is not an object`);
    return v as Obj;
  };
  const sha = (o: Obj, key: string, path = ""): string => {
    const v = str(o, key, path);
    if (!/^[0-9a-f]{64}$/.test(v)) bad(`"${path}${key}" is not a lowercase hex sha256`);
    return v;
  };

  str(m, "task");
  if ((m.task as string).length === 0) bad(`"task" is empty`);
  str(m, "createdAt");
  if (Number.isNaN(Date.parse(m.createdAt as string))) bad(`"createdAt" is not a date`);
  int(m, "prefixLen");
  int(m, "numLayers");
  int(m, "numKvHeads");
  int(m, "headDim");
  const dtype = str(m, "dtype");
  if (!(BUNDLE_DTYPES as readonly string[]).includes(dtype)) {
    bad(`"dtype" is ${JSON.stringify(dtype)}, expected F32, F16 or I8`);
  }
  if (str(m, "layout") !== KV_LAYOUT) {
    bad(`"layout" is ${JSON.stringify(m.layout)}, expected "${KV_LAYOUT}"`);
  }
  if (str(m, "positions") !== POSITIONS) {
    bad(`"positions" is ${JSON.stringify(m.positions)}, expected "${POSITIONS}"`);
  }
  sha(m, "sha256");

  const base = obj(m, "base");
  if (base.name !== null && typeof base.name !== "string") {
    bad(`"base.name" is ${JSON.stringify(base.name)}, not a string or null`);
  }
  const arch = obj(base, "architecture", "base.");
  str(arch, "family", "base.architecture.");
  for (
    const k of [
      "numLayers",
      "numHeads",
      "numKvHeads",
      "headDim",
      "hiddenSize",
      "intermediateSize",
      "vocabSize",
      "maxPositions",
    ]
  ) int(arch, k, "base.architecture.");
  const checkFp = (fp: unknown, path: string) => {
    if (!isObj(fp)) return bad(`"${path}" is not an object`);
    // Unknown kinds are kept (a newer writer may add one); verification only
    // counts the kinds this reader can compute.
    if (str(fp, "kind", `${path}.`) === "") bad(`"${path}.kind" is empty`);
    sha(fp, "sha256", `${path}.`);
  };
  checkFp(req(base, "fingerprint", "base."), "base.fingerprint");
  if (base.otherFingerprints !== undefined) {
    if (!Array.isArray(base.otherFingerprints)) bad(`"base.otherFingerprints" is not an array`);
    (base.otherFingerprints as unknown[]).forEach((f, i) =>
      checkFp(f, `base.otherFingerprints[${i}]`)
    );
  }
  const tf = req(m, "tokenizerFingerprint", "");
  if (tf !== null && (typeof tf !== "string" || !/^[0-9a-f]{64}$/.test(tf))) {
    bad(`"tokenizerFingerprint" is neither null nor a lowercase hex sha256`);
  }

  const method = obj(m, "method");
  const reparam = str(method, "reparam", "method.");
  if (reparam !== "none" && reparam !== "mlp" && reparam !== "residual") {
    bad(`"method.reparam" is ${JSON.stringify(reparam)}, expected none, mlp or residual`);
  }
  if (typeof req(method, "gate", "method.") !== "boolean") bad(`"method.gate" is not a boolean`);
  const mid = req(method, "midDim", "method.");
  if (mid !== null && (!Number.isSafeInteger(mid) || (mid as number) < 1)) {
    bad(`"method.midDim" is ${JSON.stringify(mid)}, not a positive integer or null`);
  }
  if (method.gates !== undefined) {
    const g = method.gates;
    if (!Array.isArray(g) || !g.every((x) => typeof x === "number" && Number.isFinite(x))) {
      bad(`"method.gates" is not an array of finite numbers`);
    }
    if ((g as number[]).length !== m.prefixLen) {
      bad(`"method.gates" has ${(g as number[]).length} values but prefixLen is ${m.prefixLen}`);
    }
  }
  obj(m, "training");
  if (m.prompt !== undefined) {
    const p = obj(m, "prompt");
    const template = str(p, "template", "prompt.");
    if (!template.includes("{input}")) bad(`"prompt.template" does not contain {input}`);
    str(p, "separator", "prompt.");
    if (typeof req(p, "addSpecialTokens", "prompt.") !== "boolean") {
      bad(`"prompt.addSpecialTokens" is not a boolean`);
    }
    if (p.exampleInput !== undefined) str(p, "exampleInput", "prompt.");
  }
  if (m.generation !== undefined) {
    const g = obj(m, "generation");
    const t = req(g, "temperature", "generation.");
    if (typeof t !== "number" || !(t >= 0 && t <= 2)) {
      bad(`"generation.temperature" is ${JSON.stringify(t)}, not a number in [0, 2]`);
    }
    int(g, "maxNewTokens", "generation.");
    const stop = req(g, "stop", "generation.");
    if (!Array.isArray(stop) || !stop.every((x) => typeof x === "string" && x !== "")) {
      bad(`"generation.stop" is not a list of non-empty strings`);
    }
    const eos = req(g, "eosTokenIds", "generation.");
    if (!Array.isArray(eos) || !eos.every((x) => Number.isSafeInteger(x) && x >= 0)) {
      bad(`"generation.eosTokenIds" is not a list of token ids`);
    }
  }
  return m as BundleManifest;
}

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}
