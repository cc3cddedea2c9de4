/**
 * The folded prefix: what a bundle stores and what the engine injects as
 * `past_key_values`. Layout (docs/design.md §1): `kv` is `[P, S]` row-major with
 * `S = 2*L*D`, viewed as `[P, 2L, H, hd]`; slot `j = 2*l + kv` (kv 0 = key,
 * 1 = value) is layer `l`'s past key or value.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import { kvWidth, type ModelConfig, prefixWidth } from "./config.ts";

/** A folded prefix: `kv` is `[prefixLen, 2*L*D]` f32, docs/design.md layout. */
export interface Prefix {
  /** P: number of virtual prefix tokens. */
  prefixLen: number;
  /** Folded keys/values, `[P, 2*L*D]` row-major. */
  kv: Float32Array;
}

/**
 * Check a prefix against a model's shapes and the context budget.
 *
 * @param config the base model's config
 * @param prefix the prefix to check
 * @param what name for error messages
 * @throws {PrefixEdgeError} `PREFIX_MISMATCH` for a wrong length/width or a
 *   prefix that leaves no context, `INVALID_INPUT` for NaN/Inf
 */
export function validatePrefix(config: ModelConfig, prefix: Prefix, what = "prefix"): void {
  const S = prefixWidth(config);
  const P = prefix.prefixLen;
  if (!Number.isInteger(P) || P < 0) {
    throw new PrefixEdgeError(
      "PREFIX_MISMATCH",
      `Cannot use ${what}: prefixLen ${P} is not a non-negative integer`,
    );
  }
  if (prefix.kv.length !== P * S) {
    throw new PrefixEdgeError(
      "PREFIX_MISMATCH",
      `Cannot use ${what}: kv holds ${prefix.kv.length} values but P=${P} x S=${S} (2*L*D for this model) needs ${
        P * S
      }`,
    );
  }
  if (P >= config.maxPositions) {
    throw new PrefixEdgeError(
      "PREFIX_MISMATCH",
      `Cannot use ${what}: prefixLen ${P} leaves no context (the model has ${config.maxPositions} positions)`,
    );
  }
  for (let i = 0; i < prefix.kv.length; i++) {
    if (!Number.isFinite(prefix.kv[i])) {
      throw new PrefixEdgeError("INVALID_INPUT", `Cannot use ${what}: kv[${i}] is ${prefix.kv[i]}`);
    }
  }
}

/**
 * Copy one layer's key or value out of a folded prefix as `[H, P, hd]`
 * (the `past_key_values.{l}.key|value` layout without the batch axis).
 *
 * @param config the base model's config
 * @param prefix the folded prefix
 * @param layer l
 * @param kind 0 = key, 1 = value
 * @param out optional destination of length `H*P*hd`
 * @returns `[H, P, hd]` values
 */
export function prefixSlot(
  config: ModelConfig,
  prefix: Prefix,
  layer: number,
  kind: 0 | 1,
  out?: Float32Array,
): Float32Array {
  const H = config.numKvHeads, hd = config.headDim, D = kvWidth(config);
  const S = prefixWidth(config), P = prefix.prefixLen;
  const dst = out ?? new Float32Array(H * P * hd);
  const slot = 2 * layer + kind;
  for (let p = 0; p < P; p++) {
    const rowBase = p * S + slot * D;
    for (let h = 0; h < H; h++) {
      dst.set(prefix.kv.subarray(rowBase + h * hd, rowBase + (h + 1) * hd), (h * P + p) * hd);
    }
  }
  return dst;
}
