/**
 * Base-model fingerprints: cheap identities that let a bundle refuse a base
 * model it was not trained for.
 *
 * A fingerprint hashes the architecture numbers and a fixed sample of the
 * weights, not every byte: hashing a 500 MB model would cost seconds of I/O
 * on every server start, while a sample already tells two models apart
 * (training or a new random init changes every weight, so any sample
 * differs). It is an identity check, not an integrity check of the weights.
 *
 * Two kinds (docs/bundle-format.md §4):
 * - `safetensors-sample-v1`: sha256 over the canonical architecture JSON and,
 *   for each tensor of model.safetensors in sorted name order, its name,
 *   dtype, shape, and its first, middle and last 4 KiB plus 16 evenly strided
 *   64-byte windows (the whole tensor when it is at most 12 KiB), read with
 *   ranged reads.
 * - `onnx-sample-v1`: for a folder with only `onnx/model.onnx`: sha256 over
 *   the architecture JSON, the ONNX file's size, and the same sample of the
 *   file as one blob.
 *
 * Results are cached per `LoadedModel` (a WeakMap), so verifying many
 * bundles against one model hashes it once.
 *
 * @module
 */
import { concatBytes, type LoadedModel, type ModelConfig, sha256Hex } from "../model/mod.ts";
import { BundleError } from "./bundle_error.ts";
import type { BaseArchitecture, BaseFingerprint, FingerprintKind } from "./manifest.ts";

const EDGE = 4096;
const WINDOWS = 16;
const WINDOW = 64;

const cache = new WeakMap<LoadedModel, Map<FingerprintKind, Promise<BaseFingerprint>>>();

/**
 * The architecture numbers a bundle records and checks.
 *
 * @param config the model's config
 * @returns the numbers, in a fixed key order
 */
export function baseArchitecture(config: ModelConfig): BaseArchitecture {
  return {
    family: config.family,
    numLayers: config.numLayers,
    numHeads: config.numHeads,
    numKvHeads: config.numKvHeads,
    headDim: config.headDim,
    hiddenSize: config.hiddenSize,
    intermediateSize: config.intermediateSize,
    vocabSize: config.vocabSize,
    maxPositions: config.maxPositions,
    // Only where set, so bundles of models without these features keep their fingerprints.
    ...(config.qkvBias ? { qkvBias: true } : {}),
    ...(config.qkNorm ? { qkNorm: true } : {}),
    ...(config.ropeScaling ? { ropeScaling: describeRopeScaling(config) } : {}),
  };
}

function describeRopeScaling(config: ModelConfig): string | undefined {
  const s = config.ropeScaling;
  return s &&
    `${s.type} factor=${s.factor} low=${s.lowFreqFactor} high=${s.highFreqFactor} original=${s.originalMaxPositions}`;
}

/**
 * Which fingerprint kinds this model folder can produce, preferred first.
 *
 * @param model the loaded model
 * @returns kinds (weights first, then ONNX)
 */
export function fingerprintKinds(model: LoadedModel): FingerprintKind[] {
  const kinds: FingerprintKind[] = [];
  if (model.paths.weights) kinds.push("safetensors-sample-v1");
  if (model.paths.onnx) kinds.push("onnx-sample-v1");
  return kinds;
}

/**
 * Fingerprint a base model (cached per model and kind).
 *
 * @param model the loaded model
 * @param kind which files to sample; defaults to the weights when the folder
 *   has model.safetensors, else the ONNX graph
 * @returns `{ kind, sha256 }`
 * @throws {BundleError} `BASE_MISMATCH` when the folder has no file of that kind
 *
 * @example Fingerprint the embedded default model
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { loadModel } from "../model/mod.ts";
 * import { modelFingerprint } from "./fingerprint.ts";
 * const model = await loadModel("models/stories260K");
 * const fp = await modelFingerprint(model);
 * assertEquals(fp.kind, "safetensors-sample-v1");
 * assertEquals(fp.sha256.slice(0, 8), "defcd737");
 * ```
 */
export function modelFingerprint(
  model: LoadedModel,
  kind?: FingerprintKind,
): Promise<BaseFingerprint> {
  const k = kind ?? fingerprintKinds(model)[0];
  if (!k || !fingerprintKinds(model).includes(k)) {
    return Promise.reject(
      new BundleError(
        "BASE_MISMATCH",
        model.paths.dir,
        `Cannot fingerprint the model in ${model.paths.dir}: it has no ${
          k === "onnx-sample-v1" ? "ONNX graph" : k ? "model.safetensors" : "weights or ONNX graph"
        }`,
      ),
    );
  }
  let perModel = cache.get(model);
  if (!perModel) cache.set(model, perModel = new Map());
  let p = perModel.get(k);
  if (!p) {
    p = k === "safetensors-sample-v1" ? weightsFingerprint(model) : onnxFingerprint(model);
    perModel.set(k, p);
    // A failed read must not poison the cache.
    p.catch(() => perModel!.delete(k));
  }
  return p;
}

/** Byte ranges `[start, length]` sampled from a blob of `size` bytes. */
export function sampleRanges(size: number): [number, number][] {
  if (size <= 3 * EDGE) return [[0, size]];
  const ranges: [number, number][] = [
    [0, EDGE],
    [Math.floor(size / 2) - EDGE / 2, EDGE],
    [size - EDGE, EDGE],
  ];
  for (let i = 0; i < WINDOWS; i++) {
    ranges.push([Math.floor((i * (size - WINDOW)) / (WINDOWS - 1)), WINDOW]);
  }
  return ranges;
}

async function weightsFingerprint(model: LoadedModel): Promise<BaseFingerprint> {
  const st = await model.openWeights();
  try {
    const parts: Uint8Array[] = [canonicalArch(model.config)];
    const enc = new TextEncoder();
    for (const name of [...st.tensors.keys()].sort()) {
      const t = st.info(name);
      parts.push(enc.encode(`\n${name}\n${t.dtype}\n${t.shape.join(",")}\n`));
      for (const [start, len] of sampleRanges(t.byteLength)) {
        parts.push(await st.readRange(name, start, len));
      }
    }
    return { kind: "safetensors-sample-v1", sha256: await sha256Hex(concatBytes(parts)) };
  } finally {
    st.close();
  }
}

async function onnxFingerprint(model: LoadedModel): Promise<BaseFingerprint> {
  const file = await model.openOnnx();
  try {
    const parts: Uint8Array[] = [
      canonicalArch(model.config),
      new TextEncoder().encode(`\n${file.size}\n`),
    ];
    for (const [start, len] of sampleRanges(file.size)) {
      parts.push(await file.read(start, len));
    }
    return { kind: "onnx-sample-v1", sha256: await sha256Hex(concatBytes(parts)) };
  } finally {
    file.close();
  }
}

function canonicalArch(config: ModelConfig): Uint8Array {
  const a = baseArchitecture(config) as unknown as Record<string, unknown>;
  const sorted = Object.fromEntries(Object.keys(a).sort().map((k) => [k, a[k]]));
  return new TextEncoder().encode(JSON.stringify(sorted));
}
