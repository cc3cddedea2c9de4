/**
 * Validate a batch of token rows and pack it for the GPU: ids, padding mask and
 * next-token targets. Labels follow Hugging Face's convention: `labels[b][t]` is
 * aligned with `inputIds[b][t]` and the model shifts them (the logits at t predict
 * `labels[b][t+1]`); -100 means "not counted".
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import type { ModelConfig } from "../model/mod.ts";

/** A batch of right-padded token rows (HF conventions; labels -100 are ignored). */
export interface TokenBatch {
  /** `[B][T]` token ids. */
  inputIds: number[][];
  /** `[B][T]` labels aligned with `inputIds` (shifted inside the model), -100 = ignored. */
  labels: number[][];
  /** `[B][T]` 1 for real tokens, 0 for padding (default: all ones). */
  attentionMask?: number[][];
}

/** A batch in GPU form (row r = b * T + t). */
export interface PackedBatch {
  B: number;
  T: number;
  /** `[B*T]` token ids. */
  ids: Uint32Array;
  /** `[B*T]` 1 / 0. */
  mask: Uint32Array;
  /** `[B*T]` the next token's label, -1 when not counted. */
  targets: Int32Array;
  /** Number of counted targets. */
  tokens: number;
}

/**
 * Check and pack a batch.
 *
 * @param batch the rows
 * @param config the model config (vocabulary and positions)
 * @param limits allocation limits and the prefix length
 * @returns the packed batch
 * @throws {PrefixEdgeError} `INVALID_INPUT` for ragged or oversized batches,
 *   `TOKEN_OUT_OF_RANGE` for ids outside the vocabulary, `CONTEXT_OVERFLOW`
 *   when P + T exceeds the model's positions
 */
export function packBatch(
  batch: TokenBatch,
  config: ModelConfig,
  limits: { maxBatch: number; maxLen: number; prefixLen: number },
): PackedBatch {
  const bad = (why: string): never => {
    throw new PrefixEdgeError("INVALID_INPUT", `Cannot use the batch: ${why}`);
  };
  const { inputIds, labels, attentionMask } = batch;
  if (!Array.isArray(inputIds) || inputIds.length === 0) bad("inputIds has no rows");
  const B = inputIds.length;
  const T = inputIds[0]?.length ?? 0;
  if (T === 0) bad("rows are empty");
  if (B > limits.maxBatch) bad(`${B} rows exceed maxBatch ${limits.maxBatch}`);
  if (T > limits.maxLen) bad(`rows of ${T} tokens exceed maxLen ${limits.maxLen}`);
  if (limits.prefixLen + T > config.maxPositions) {
    throw new PrefixEdgeError(
      "CONTEXT_OVERFLOW",
      `Cannot use the batch: prefix ${limits.prefixLen} + ${T} tokens exceed the model's ${config.maxPositions} positions`,
    );
  }
  if (!Array.isArray(labels) || labels.length !== B) bad(`labels must have ${B} rows`);
  if (attentionMask && attentionMask.length !== B) bad(`attentionMask must have ${B} rows`);
  const V = config.vocabSize;
  const ids = new Uint32Array(B * T);
  const mask = new Uint32Array(B * T);
  const targets = new Int32Array(B * T).fill(-1);
  let tokens = 0;
  for (let b = 0; b < B; b++) {
    const row = inputIds[b], lab = labels[b], m = attentionMask?.[b];
    if (row.length !== T) {
      bad(`row ${b} has ${row.length} tokens, row 0 has ${T} (pad rows on the right)`);
    }
    if (lab.length !== T) bad(`labels row ${b} has ${lab.length} entries, expected ${T}`);
    if (m && m.length !== T) bad(`attentionMask row ${b} has ${m.length} entries, expected ${T}`);
    for (let t = 0; t < T; t++) {
      const id = row[t];
      if (!Number.isInteger(id) || id < 0 || id >= V) {
        throw new PrefixEdgeError(
          "TOKEN_OUT_OF_RANGE",
          `Cannot use the batch: inputIds[${b}][${t}] = ${id} is outside the vocabulary [0, ${V})`,
        );
      }
      ids[b * T + t] = id;
      const mv = m ? m[t] : 1;
      if (mv !== 0 && mv !== 1) bad(`attentionMask[${b}][${t}] = ${mv} is not 0 or 1`);
      mask[b * T + t] = mv;
      const l = lab[t];
      if (l !== -100 && (!Number.isInteger(l) || l < 0 || l >= V)) {
        throw new PrefixEdgeError(
          "TOKEN_OUT_OF_RANGE",
          `Cannot use the batch: labels[${b}][${t}] = ${l} is neither -100 nor a token id in [0, ${V})`,
        );
      }
      if (t > 0 && l !== -100) {
        targets[b * T + t - 1] = l;
        tokens++;
      }
    }
  }
  return { B, T, ids, mask, targets, tokens };
}
