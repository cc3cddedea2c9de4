/**
 * Pieces every decoder family shares: the Optimum / transformers.js IO
 * (docs/design.md §4), the additive attention mask, multi-head attention over the
 * KV cache (with grouped-query heads), and the LM head.
 *
 * Letters: B batch, T new tokens, P past tokens, S = P + T, H query heads,
 * Hk key/value heads, hd head size, d model width, V vocabulary.
 *
 * @module
 */
import type { ModelConfig } from "../model/mod.ts";
import type { GraphBuilder } from "./graph_builder.ts";

/** The decoder graph's input values. */
export interface DecoderInputs {
  /** `[B, T]` int64. */
  inputIds: string;
  /** `[B, S]` int64, 1 = attend. */
  attentionMask: string;
  /** `[B, T]` int64: each new token's position (prefix rows start at P). */
  positionIds: string;
  /** Per layer: `[B, Hk, P, hd]` float32 keys and values. */
  past: { key: string; value: string }[];
}

/** Most negative float32, as PyTorch uses for masked scores. */
const MASKED = -3.4028234663852886e38;

/**
 * Declare the inputs with dynamic batch, sequence and past axes.
 *
 * @param g the graph
 * @param c the model config
 * @returns the input names
 */
export function declareInputs(g: GraphBuilder, c: ModelConfig): DecoderInputs {
  const inputIds = g.input("input_ids", "int64", ["batch_size", "sequence_length"]);
  const attentionMask = g.input("attention_mask", "int64", ["batch_size", "total_sequence_length"]);
  const positionIds = g.input("position_ids", "int64", ["batch_size", "sequence_length"]);
  const past = [];
  for (let l = 0; l < c.numLayers; l++) {
    const dims = ["batch_size", c.numKvHeads, "past_sequence_length", c.headDim];
    past.push({
      key: g.input(`past_key_values.${l}.key`, "float32", dims),
      value: g.input(`past_key_values.${l}.value`, "float32", dims),
    });
  }
  return { inputIds, attentionMask, positionIds, past };
}

/**
 * Declare `logits` and `present.{l}.key|value`, which the graph writes.
 *
 * @param g the graph
 * @param c the model config
 */
export function declareOutputs(g: GraphBuilder, c: ModelConfig): void {
  g.output("logits", "float32", ["batch_size", "sequence_length", c.vocabSize]);
  for (let l = 0; l < c.numLayers; l++) {
    const dims = ["batch_size", c.numKvHeads, "total_sequence_length", c.headDim];
    g.output(`present.${l}.key`, "float32", dims);
    g.output(`present.${l}.value`, "float32", dims);
  }
}

/**
 * The additive mask `[B, 1, T, S]`: 0 where query t (at column P + t) may
 * attend key s (s <= P + t and `attention_mask[b, s]` = 1), else the most
 * negative float32. Per-row prefix masks and left padding both go through it.
 *
 * @param g the graph
 * @param x the inputs
 * @returns the mask's name
 */
export function additiveMask(g: GraphBuilder, x: DecoderInputs): string {
  return g.scope("mask", () => {
    const one = g.int64s([1], []);
    const dim1 = (v: string) => g.op("Gather", [g.op("Shape", [v]), one], { axis: 0 });
    const T = dim1(x.inputIds);
    const S = dim1(x.attentionMask);
    const P = g.op("Sub", [S, T]);
    const zero = g.int64s([0], []);
    const queryCol = g.op("Unsqueeze", [g.op("Range", [P, S, one]), g.int64s([1])]); // [T, 1]
    const keyCol = g.op("Range", [zero, S, one]); // [S]
    const causal = g.op("LessOrEqual", [keyCol, queryCol]); // [T, S]
    const keep = g.op("Unsqueeze", [g.op("Cast", [x.attentionMask], { to: 9 }), g.int64s([1, 2])]);
    const allowed = g.op("And", [causal, keep]); // [B, 1, T, S]
    return g.op("Where", [allowed, g.floats([0], []), g.floats([MASKED], [])]);
  });
}

/**
 * `[B, T, heads * hd]` -> `[B, heads, T, hd]`.
 *
 * @param g the graph
 * @param x the projected activations
 * @param heads number of heads
 * @param hd head size
 * @returns the value's name
 */
export function splitHeads(g: GraphBuilder, x: string, heads: number, hd: number): string {
  const r = g.op("Reshape", [x, g.int64s([0, 0, heads, hd])]);
  return g.op("Transpose", [r], { perm: [0, 2, 1, 3] });
}

/**
 * Inputs of {@link attention} (per head: `[B, heads, T, hd]`) and of
 * {@link fusedAttention} (`[B, T, heads * hd]`).
 */
export interface AttentionArgs {
  /** Layer index (names `present.{layer}.*`). */
  layer: number;
  /** Queries (RoPE applied where the family uses it). */
  q: string;
  /** New keys (RoPE applied where the family uses it). */
  k: string;
  /** New values. */
  v: string;
  /** The layer's cache inputs. */
  past: { key: string; value: string };
  /** `[B, 1, T, S]` additive mask. */
  mask: string;
}

/**
 * Scaled dot-product attention over `[past; new]` keys and values; writes
 * `present.{layer}.key|value`. With Hk < H each key/value head serves
 * H / Hk query heads (HF `repeat_kv`).
 *
 * @param g the graph
 * @param c the model config
 * @param a queries, keys and values as `[B, heads, T, hd]`, cache and mask
 * @returns `[B, T, H * hd]`
 */
export function attention(g: GraphBuilder, c: ModelConfig, a: AttentionArgs): string {
  const H = c.numHeads, Hk = c.numKvHeads, hd = c.headDim;
  let k = g.op("Concat", [a.past.key, a.k], { axis: 2 }, { outputs: [`present.${a.layer}.key`] });
  let v = g.op("Concat", [a.past.value, a.v], { axis: 2 }, {
    outputs: [`present.${a.layer}.value`],
  });
  if (Hk !== H) {
    const repeat = (t: string) => {
      const e = g.op("Expand", [
        g.op("Unsqueeze", [t, g.int64s([2])]),
        g.int64s([1, 1, H / Hk, 1, 1]),
      ]);
      return g.op("Reshape", [e, g.int64s([0, H, -1, hd])]);
    };
    k = repeat(k);
    v = repeat(v);
  }
  const kT = g.op("Transpose", [k], { perm: [0, 1, 3, 2] });
  const scores = g.op("Mul", [g.op("MatMul", [a.q, kT]), g.floats([1 / Math.sqrt(hd)], [])]);
  const probs = g.op("Softmax", [g.op("Add", [scores, a.mask])], { axis: -1 });
  return mergeHeads(g, g.op("MatMul", [probs, v]), H * hd);
}

/** The contrib-op domain of ORT's fused operators. */
export const ORT_DOMAIN = "com.microsoft";

/**
 * Each row's cache length, from `attention_mask`, for {@link fusedAttention}: in a ragged
 * graph the mask says only how many leading cache columns (prefix, prompt, generated) a row
 * holds, past and new together, not which ones (docs/onnx-export.md, `--optimize`).
 */
export interface RowLengths {
  /** `[B]` int32: each row's length minus one (ORT's `seqlens_k`). */
  seqlensK: string;
  /** Scalar int32: the mask's width, the longest row's length. */
  total: string;
}

/**
 * {@link RowLengths} from the inputs: the row sums of `attention_mask`, and its width.
 *
 * @param g the graph
 * @param x the inputs
 * @returns the values' names
 */
export function rowLengths(g: GraphBuilder, x: DecoderInputs): RowLengths {
  return g.scope("lengths", () => {
    const INT32 = 6;
    const sum = g.op("ReduceSum", [x.attentionMask, g.int64s([1])], { keepdims: 0 });
    const seqlensK = g.op("Cast", [g.op("Sub", [sum, g.int64s([1], [])])], { to: INT32 });
    const width = g.op("Gather", [g.op("Shape", [x.attentionMask]), g.int64s([1], [])], {
      axis: 0,
    });
    return { seqlensK, total: g.op("Cast", [width], { to: INT32 }) };
  });
}

/**
 * Attention as one ORT `GroupQueryAttention` (`--optimize`), with grouped-query heads
 * (Hk <= H). Each row attends over its own length only: its cache holds its prefix, prompt and
 * generated tokens from column 0 on, and what lies past its length is ignored and overwritten.
 * A batch of rows of different lengths then costs each row its own length, not the longest
 * row's (the plain graph's rectangular mask). tests/infer checks a ragged batch's logits
 * against each row run alone.
 *
 * @param g the graph
 * @param c the model config
 * @param a queries, keys and values as `[B, T, heads * hd]` (RoPE applied), and the cache
 * @param lengths the rows' lengths ({@link rowLengths})
 * @returns `[B, T, H * hd]`
 */
export function fusedAttention(
  g: GraphBuilder,
  c: ModelConfig,
  a: Omit<AttentionArgs, "mask">,
  lengths: RowLengths,
): string {
  const outputs = [
    `layer${a.layer}/attention`,
    `present.${a.layer}.key`,
    `present.${a.layer}.value`,
  ];
  return g.opN(
    "GroupQueryAttention",
    [a.q, a.k, a.v, a.past.key, a.past.value, lengths.seqlensK, lengths.total],
    {
      num_heads: c.numHeads,
      kv_num_heads: c.numKvHeads,
      scale: { float: 1 / Math.sqrt(c.headDim) },
    },
    { outputs, domain: ORT_DOMAIN },
  )[0];
}

/**
 * `[B, heads, T, hd]` -> `[B, T, heads * hd]`.
 *
 * @param g the graph
 * @param x per-head activations
 * @param width heads * hd
 * @returns the value's name
 */
export function mergeHeads(g: GraphBuilder, x: string, width: number): string {
  const t = g.op("Transpose", [x], { perm: [0, 2, 1, 3] });
  return g.op("Reshape", [t, g.int64s([0, 0, width])]);
}

/**
 * `logits = x W^T` with W a `[V, d]` table (tied embedding or lm_head), as a
 * `Gemm` with `transB` so a tied matrix is stored once.
 *
 * @param g the graph
 * @param c the model config
 * @param x `[B, T, d]`
 * @param table `[V, d]`
 * @param inputIds the `input_ids` input (its shape gives B and T)
 * @returns the `logits` value
 */
export function lmHead(
  g: GraphBuilder,
  c: ModelConfig,
  x: string,
  table: string,
  inputIds: string,
): string {
  const flat = g.op("Reshape", [x, g.int64s([-1, c.hiddenSize])]);
  const y = g.op("Gemm", [flat, table], { transB: 1 });
  const shape = g.op("Concat", [g.op("Shape", [inputIds]), g.int64s([c.vocabSize])], { axis: 0 });
  return g.op("Reshape", [y, shape], {}, { outputs: ["logits"] });
}

/**
 * `x @ W (+ b)`.
 *
 * @param g the graph
 * @param x activations
 * @param w `[in, out]`
 * @param b optional `[out]` bias
 * @returns the value's name
 */
export function linear(g: GraphBuilder, x: string, w: string, b?: string): string {
  const y = g.op("MatMul", [x, w]);
  return b ? g.op("Add", [y, b]) : y;
}
