/**
 * Discover a decoder graph's inputs and outputs by name (Optimum /
 * transformers.js naming), so the engine never hard-codes a graph layout:
 *
 * - `input_ids` `[B, T]` int64 or int32
 * - `attention_mask` `[B, past + T]`, `position_ids` `[B, T]` (optional)
 * - `past_key_values.{l}.key|value` `[B, H, past, hd]` -> `present.{l}.key|value`
 * - `logits` `[B, T, V]`
 * - `use_cache_branch` `[1]` bool in merged decoders
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import type { ModelConfig } from "../model/mod.ts";

/** Integer element types the graph may use for ids, masks and positions. */
export type IdType = "int64" | "int32";

/** The names and element types of a decoder graph's IO. */
export interface SessionIO {
  inputIds: string;
  attentionMask?: string;
  positionIds?: string;
  useCacheBranch?: string;
  /** Per layer l: the past key/value input names. */
  past: { key: string; value: string }[];
  /** Per layer l: the present key/value output names. */
  present: { key: string; value: string }[];
  logits: string;
  /** Element type of each integer input, by name. */
  intTypes: Record<string, IdType>;
}

/** Minimal view of ORT's IO metadata (present in onnxruntime-common >= 1.21). */
interface ValueMetadata {
  name: string;
  isTensor?: boolean;
  type?: string;
  shape?: readonly (number | string)[];
}

const PAST = /^past_key_values\.(\d+)\.(key|value)$/;
const PRESENT = /^present\.(\d+)\.(key|value)$/;

/**
 * Map a session's IO names onto the roles the engine needs.
 *
 * @param inputNames the session's input names
 * @param outputNames the session's output names
 * @param inputMetadata the session's input metadata, when the runtime offers it
 * @param config the model's config (the layer count must match the graph)
 * @param source name of the graph file, for errors
 * @returns the discovered IO
 * @throws {PrefixEdgeError} `UNSUPPORTED_MODEL` when the graph lacks a KV cache,
 *   ids or logits, or its layer count disagrees with config.json
 */
export function discoverSessionIO(
  inputNames: readonly string[],
  outputNames: readonly string[],
  inputMetadata: readonly ValueMetadata[] | undefined,
  config: ModelConfig,
  source: string,
): SessionIO {
  const fail = (why: string): never => {
    throw new PrefixEdgeError("UNSUPPORTED_MODEL", `Cannot use ONNX graph ${source}: ${why}`);
  };
  if (!inputNames.includes("input_ids")) {
    fail(`it has no "input_ids" input (inputs: ${inputNames.join(", ")})`);
  }
  if (!outputNames.includes("logits")) fail(`it has no "logits" output`);
  const past = collectLayers(inputNames, PAST);
  const present = collectLayers(outputNames, PRESENT);
  if (past.length === 0) {
    fail(
      "it has no past_key_values.{i}.key|value inputs; prefixes need a decoder exported with a KV cache",
    );
  }
  if (past.length !== config.numLayers || present.length !== config.numLayers) {
    fail(
      `it has ${past.length} past and ${present.length} present layers but config.json says ${config.numLayers}`,
    );
  }
  const intTypes: Record<string, IdType> = {};
  for (const name of ["input_ids", "attention_mask", "position_ids"]) {
    if (!inputNames.includes(name)) continue;
    const t = inputMetadata?.find((m) => m.name === name)?.type;
    if (t !== undefined && t !== "int64" && t !== "int32") fail(`input "${name}" has type ${t}`);
    intTypes[name] = (t as IdType | undefined) ?? "int64";
  }
  for (const m of inputMetadata ?? []) {
    if (PAST.test(m.name) && m.type !== undefined && m.type !== "float32") {
      fail(`input "${m.name}" is ${m.type}; only float32 KV caches are supported`);
    }
  }
  return {
    inputIds: "input_ids",
    attentionMask: inputNames.includes("attention_mask") ? "attention_mask" : undefined,
    positionIds: inputNames.includes("position_ids") ? "position_ids" : undefined,
    useCacheBranch: inputNames.includes("use_cache_branch") ? "use_cache_branch" : undefined,
    past,
    present,
    logits: "logits",
    intTypes,
  };
}

function collectLayers(names: readonly string[], re: RegExp): { key: string; value: string }[] {
  const layers: { key?: string; value?: string }[] = [];
  for (const n of names) {
    const m = re.exec(n);
    if (!m) continue;
    const l = Number(m[1]);
    layers[l] ??= {};
    layers[l][m[2] as "key" | "value"] = n;
  }
  const out: { key: string; value: string }[] = [];
  for (let l = 0; l < layers.length; l++) {
    if (!layers[l]?.key || !layers[l]?.value) return out; // a gap: count only the contiguous run
    out.push({ key: layers[l].key!, value: layers[l].value! });
  }
  return out;
}
