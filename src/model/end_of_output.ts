/**
 * The token a trained output ends with: the model's EOS, unless the model cannot say it.
 *
 * A prefix can only teach a model to end an output with a token whose output row (the LM head,
 * or the tied embedding) it can tell apart from the others. llama2.c's exports, such as the
 * embedded stories260K, separate their training stories with BOS and never saw EOS: its row is
 * the same vector as 185 unused byte tokens' (cosine above 0.9999), so the best a prefix can
 * reach is a flat chance among them, and the generation runs on past the story. Such a model ends
 * documents with BOS, and so do its trained outputs.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import type { LoadedModel } from "./load_model.ts";

/** The end-of-output token of a model, and why it is not the EOS when it is not. */
export interface EndOfOutput {
  /** The id appended to every training target, and the one generation stops at. */
  id: number;
  /** Why another token than EOS was chosen (null when it is the EOS). */
  note: string | null;
}

/** Rows closer than this (cosine) are the same vector for the model. */
const SAME_ROW = 0.9999;

const cache = new WeakMap<LoadedModel, Promise<EndOfOutput>>();

/**
 * The token every training target ends with for this model (memoized per loaded model).
 *
 * @param model the base model
 * @returns the id, and a note when it is not the EOS
 * @throws {PrefixEdgeError} `CONFIG_INVALID` when neither the tokenizer nor config.json names
 *   an EOS token
 *
 * @example stories260K cannot say EOS, so its outputs end with BOS
 * ```ts
 * import { strictEqual } from "node:assert";
 * import { endOfOutputToken } from "./end_of_output.ts";
 * import { loadModel } from "./load_model.ts";
 * const end = await endOfOutputToken(await loadModel("models/stories260K"));
 * strictEqual(end.id, 1);
 * ```
 */
export function endOfOutputToken(model: LoadedModel): Promise<EndOfOutput> {
  let found = cache.get(model);
  if (!found) {
    found = choose(model);
    cache.set(model, found);
  }
  return found;
}

async function choose(model: LoadedModel): Promise<EndOfOutput> {
  const eos = model.tokenizer?.eosTokenId ?? model.config.eosTokenIds[0];
  if (eos === undefined) {
    throw new PrefixEdgeError(
      "CONFIG_INVALID",
      `Cannot tell where outputs end for ${model.paths.dir}: neither the tokenizer nor config.json names an EOS token`,
    );
  }
  const rows = await outputRows(model);
  if (!rows) return { id: eos, note: null };
  const twins = countTwins(rows, eos);
  if (twins === 0) return { id: eos, note: null };
  const bos = model.tokenizer?.bosTokenId ?? model.config.bosTokenId;
  if (bos === undefined || bos === eos || countTwins(rows, bos) > 0) {
    return {
      id: eos,
      note:
        `EOS (id ${eos}) has the same output row as ${twins} other tokens, so trained outputs may not stop by themselves`,
    };
  }
  return {
    id: bos,
    note:
      `outputs end with BOS (id ${bos}): this model never learned EOS (id ${eos}), whose output row is the same as ${twins} other tokens'`,
  };
}

/** The output matrix `[V, d]`: the LM head, or the embedding it is tied to. */
async function outputRows(
  model: LoadedModel,
): Promise<{ data: Float32Array; vocab: number; width: number } | null> {
  if (!model.paths.weights) return null;
  const st = await model.openWeights();
  try {
    const names = [...st.tensors.keys()];
    const name = names.find((n) => /(^|\.)lm_head\.weight$/.test(n)) ??
      names.find((n) => /(^|\.)(embed_tokens|wte)\.weight$/.test(n));
    if (!name) return null;
    const shape = st.tensors.get(name)!.shape;
    if (shape.length !== 2) return null;
    return { data: await st.getFloat32(name), vocab: shape[0], width: shape[1] };
  } finally {
    st.close();
  }
}

/** How many other rows point the same way as row `id` (a zero row matches every row). */
function countTwins(
  rows: { data: Float32Array; vocab: number; width: number },
  id: number,
): number {
  const { data, vocab, width } = rows;
  if (id < 0 || id >= vocab) return 0;
  const norm = (r: number) => {
    let s = 0;
    for (let k = 0; k < width; k++) s += data[r * width + k] ** 2;
    return Math.sqrt(s);
  };
  const n0 = norm(id);
  if (n0 === 0) return vocab - 1;
  let twins = 0;
  for (let r = 0; r < vocab; r++) {
    if (r === id) continue;
    let dot = 0;
    for (let k = 0; k < width; k++) dot += data[id * width + k] * data[r * width + k];
    const n = norm(r);
    if (n > 0 && dot / (n0 * n) > SAME_ROW) twins++;
  }
  return twins;
}
