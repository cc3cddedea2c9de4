/**
 * The pieces of the ONNX training graph that every family shares, each backward next to its
 * forward: the prefix module (fold and its backward), the folded prefix as per-layer
 * `past_key_values` (and its gradient back to `[P, S]`), attention over `[prefix; tokens]`,
 * linear layers, LayerNorm and RMSNorm, and the masked cross-entropy over the LM head.
 *
 * Activations are kept 2-D, `[M, width]` with M = B*T, so that a linear layer's input
 * gradient is one `Gemm(dy, W, transB)` on the frozen `[in, out]` weight (no transposed copy of
 * the weights). Attention works per head, `[B, heads, T, hd]`.
 *
 * Letters: B batch, T tokens, P prefix tokens, S = 2*L*D prefix width, H query heads,
 * Hk key/value heads, hd head size, d model width, V vocabulary, m prefix-MLP width.
 *
 * @module
 */
import type { ModelConfig } from "../../model/mod.ts";
import type { PrefixOptions } from "../../prefix/mod.ts";
import { additiveMask, type DecoderWeights, type GraphBuilder } from "../../onnx/mod.ts";

/** The graph inputs every training graph has. */
export interface BatchInputs {
  /** `[B, T]` int64 token ids. */
  inputIds: string;
  /** `[B, P + T]` int64: ones for the prefix, then the rows' padding mask. */
  attentionMask: string;
  /** `[B, T]` int64 positions P..P+T-1. */
  positionIds: string;
  /** `[M]` int64 next-token targets (0 where not counted). */
  targets: string;
  /** `[M]` float 1 where the target counts, else 0. */
  weights: string;
}

/** How a training graph cuts its largest products (the same loss and gradients either way). */
export interface GraphWork {
  /** The attention's query blocks (default 1; {@link attentionQueryBlocks}). */
  queryBlocks?: number;
  /** The LM head's row chunks (default 1; {@link headRowChunks}). */
  headChunks?: number;
}

/** A graph under construction with the batch's dynamic shapes at hand. */
export class TrainGraph {
  readonly g: GraphBuilder;
  readonly c: ModelConfig;
  readonly x: BatchInputs;
  /** `[2]` int64: (B, T). */
  readonly bt: string;
  /** `[1]` int64: B. */
  readonly batch: string;
  /** `[B, 1, T, P + T]` additive attention mask (the exporter's). */
  readonly mask: string;

  /** The attention's query blocks ({@link attentionQueryBlocks}); rows are at least this long. */
  readonly queryBlockCount: number;
  /** The LM head's row chunks ({@link headRowChunks}). */
  readonly headChunkCount: number;

  constructor(g: GraphBuilder, c: ModelConfig, work: GraphWork = {}) {
    this.g = g;
    this.c = c;
    this.queryBlockCount = work.queryBlocks ?? 1;
    this.headChunkCount = work.headChunks ?? 1;
    this.x = {
      inputIds: g.input("input_ids", "int64", ["B", "T"]),
      attentionMask: g.input("attention_mask", "int64", ["B", "S"]),
      positionIds: g.input("position_ids", "int64", ["B", "T"]),
      targets: g.input("targets", "int64", ["M"]),
      weights: g.input("weights", "float32", ["M"]),
    };
    this.bt = g.op("Shape", [this.x.inputIds]);
    this.batch = g.op("Slice", [this.bt, g.int64s([0]), g.int64s([1])]);
    this.mask = additiveMask(g, { ...this.x, past: [] });
  }

  /** A float scalar constant. */
  f(v: number): string {
    return this.g.floats([v], []);
  }

  /** `[M, n * hd]` -> `[B, n, T, hd]`. */
  heads(x: string, n: number): string {
    const g = this.g;
    const shape = g.op("Concat", [this.bt, g.int64s([n, this.c.headDim])], { axis: 0 });
    return g.op("Transpose", [g.op("Reshape", [x, shape])], { perm: [0, 2, 1, 3] });
  }

  /** `[B, n, T, hd]` -> `[M, n * hd]`. */
  merge(x: string, n: number): string {
    const g = this.g;
    const t = g.op("Transpose", [x], { perm: [0, 2, 1, 3] });
    return g.op("Reshape", [t, g.int64s([-1, n * this.c.headDim])]);
  }

  /** `[B, H, T, hd]` -> `[B, Hk, rep, T, hd]` (a view: heads h = kv*rep + r are adjacent). */
  byKvHead(x: string): string {
    const c = this.c;
    return this.g.op("Reshape", [
      x,
      this.g.int64s([0, c.numKvHeads, c.numHeads / c.numKvHeads, -1, c.headDim]),
    ]);
  }

  /** The blocks' `[B, Hk, rep * Tb, hd]` results, in order, as `[B, H, T, hd]`. */
  joinBlocks(parts: string[], blocks: readonly QueryBlock[]): string {
    const g = this.g, c = this.c;
    const byHead = parts.map((x, i) => blocks[i].byHead(x));
    const joined = byHead.length === 1 ? byHead[0] : g.op("Concat", byHead, { axis: 3 });
    return g.op("Reshape", [joined, g.int64s([0, c.numHeads, -1, c.headDim])]);
  }

  /** The attention's query blocks for a prefix of P tokens, made once per graph. */
  queryBlocks(P: number): readonly QueryBlock[] {
    this.#blocks ??= queryBlocks(this, P);
    return this.#blocks;
  }
  #blocks?: readonly QueryBlock[];

  /** Backward of `x W (+ b)` with a frozen `[in, out]` W: `dx = dy Wᵀ`. */
  linearBackward(dy: string, w: string): string {
    return this.g.op("Gemm", [dy, w], { transB: 1 });
  }
}

// ---------------------------------------------------------------------------------------------
// The prefix module: kv = g * R (docs/design.md §1), R = E | tanh(E W1 + b1) W2 + b2 (+ E).

/** The prefix module's parameter inputs and the folded prefix `[P, S]`. */
export interface PrefixFold {
  /** Parameter name -> graph input. */
  params: Record<string, string>;
  /** `[P, m]` tanh(E W1 + b1), for the backward (reparameterized methods). */
  hidden?: string;
  /** `[P, S]` before the gate. */
  r: string;
  /** `[P]` sigmoid(a) (gated methods). */
  gate?: string;
  /** `[P, S]` the folded prefix. */
  kv: string;
}

/**
 * Declare the parameters as inputs (`param.E`, ...) and fold them into `kv` `[P, S]`.
 *
 * @param t the graph
 * @param o the prefix method
 * @param shapes the parameters' shapes (`paramShapes`)
 * @returns the fold's values
 */
export function prefixFold(
  t: TrainGraph,
  o: PrefixOptions,
  shapes: Partial<Record<string, number[]>>,
): PrefixFold {
  const g = t.g;
  const params: Record<string, string> = {};
  for (const [name, dims] of Object.entries(shapes)) {
    params[name] = g.input(`param.${name}`, "float32", dims!);
  }
  let r = params.E, hidden: string | undefined;
  if (o.reparam !== "none") {
    hidden = g.op("Tanh", [g.op("Add", [g.op("MatMul", [params.E, params.W1]), params.b1])]);
    r = g.op("Add", [g.op("MatMul", [hidden, params.W2]), params.b2]);
    if (o.reparam === "residual") r = g.op("Add", [r, params.E]);
  }
  if (!o.gate) return { params, hidden, r, kv: r };
  const gate = g.op("Sigmoid", [params.a]);
  const kv = g.op("Mul", [r, g.op("Unsqueeze", [gate, g.int64s([1])])]);
  return { params, hidden, r, gate, kv };
}

/**
 * Backward of {@link prefixFold}: writes the outputs `grad.<name>` from `dkv` `[P, S]`.
 *   gate:   dR = g dkv, da = g (1 - g) sum_s dkv R
 *   W2, b2: dW2 = hiddenᵀ dR, db2 = sum_p dR
 *   hidden: dZ = (dR W2ᵀ) (1 - hidden²)
 *   W1, b1: dW1 = Eᵀ dZ, db1 = sum_p dZ
 *   E:      dZ W1ᵀ (mlp, residual) + dR (none, residual)
 *
 * @param t the graph
 * @param o the prefix method
 * @param f the fold
 * @param dkv `[P, S]` d(summed loss) / d kv
 * @param shapes the parameters' shapes
 */
export function prefixFoldBackward(
  t: TrainGraph,
  o: PrefixOptions,
  f: PrefixFold,
  dkv: string,
  shapes: Partial<Record<string, number[]>>,
): void {
  const g = t.g, p = f.params;
  const out = (name: string, v: string) => {
    g.op("Identity", [v], {}, { outputs: [`grad.${name}`] });
    g.output(`grad.${name}`, "float32", shapes[name]!);
  };
  let dr = dkv;
  if (f.gate) {
    dr = g.op("Mul", [dkv, g.op("Unsqueeze", [f.gate, g.int64s([1])])]);
    const s = g.op("ReduceSum", [g.op("Mul", [dkv, f.r]), g.int64s([1])], { keepdims: 0 });
    const slope = g.op("Mul", [f.gate, g.op("Sub", [t.f(1), f.gate])]);
    out("a", g.op("Mul", [slope, s]));
  }
  if (o.reparam === "none") {
    out("E", dr);
    return;
  }
  const sumRows = (v: string) => g.op("ReduceSum", [v, g.int64s([0])], { keepdims: 0 });
  out("W2", g.op("Gemm", [f.hidden!, dr], { transA: 1 }));
  out("b2", sumRows(dr));
  const oneMinusH2 = g.op("Sub", [t.f(1), g.op("Mul", [f.hidden!, f.hidden!])]);
  const dz = g.op("Mul", [g.op("Gemm", [dr, p.W2], { transB: 1 }), oneMinusH2]);
  out("W1", g.op("Gemm", [p.E, dz], { transA: 1 }));
  out("b1", sumRows(dz));
  const dE = g.op("Gemm", [dz, p.W1], { transB: 1 });
  out("E", o.reparam === "residual" ? g.op("Add", [dE, dr]) : dE);
}

// ---------------------------------------------------------------------------------------------
// The folded prefix as past_key_values: kv [P, S] viewed as [P, 2L, Hk, hd], slot j = 2l + kv.

/**
 * Layer `l`'s prefix keys and values `[B, Hk, P, hd]`, the same for every row.
 *
 * @param t the graph
 * @param kv `[P, S]`
 * @param P prefix length
 * @param l layer
 * @returns key and value
 */
export function prefixPast(
  t: TrainGraph,
  kv: string,
  P: number,
  l: number,
): { key: string; value: string } {
  const g = t.g, c = t.c;
  const view = g.op("Reshape", [kv, g.int64s([P, 2 * c.numLayers, c.numKvHeads, c.headDim])]);
  const expandTo = g.op("Concat", [t.batch, g.int64s([1, 1, 1])], { axis: 0 });
  const slot = (j: number) => {
    const s = g.op("Gather", [view, g.int64s([j], [])], { axis: 1 }); // [P, Hk, hd]
    const hp = g.op("Transpose", [s], { perm: [1, 0, 2] }); // [Hk, P, hd]
    return g.op("Expand", [g.op("Unsqueeze", [hp, g.int64s([0])]), expandTo]);
  };
  return { key: slot(2 * l), value: slot(2 * l + 1) };
}

/**
 * Backward of {@link prefixPast} for all layers: the rows' gradients summed over B and laid
 * out as `[P, S]`.
 *
 * @param t the graph
 * @param dPast per layer, `[B, Hk, P, hd]` gradients of key and value
 * @param P prefix length
 * @returns `dkv` `[P, S]`
 */
export function prefixPastBackward(
  t: TrainGraph,
  dPast: { key: string; value: string }[],
  P: number,
): string {
  const g = t.g, D = t.c.numKvHeads * t.c.headDim;
  const slots: string[] = [];
  for (const d of dPast) {
    for (const v of [d.key, d.value]) {
      const summed = g.op("ReduceSum", [v, g.int64s([0])], { keepdims: 0 }); // [Hk, P, hd]
      const ph = g.op("Transpose", [summed], { perm: [1, 0, 2] }); // [P, Hk, hd]
      slots.push(g.op("Reshape", [ph, g.int64s([P, D])]));
    }
  }
  return g.op("Concat", slots, { axis: 1 });
}

// ---------------------------------------------------------------------------------------------
// Attention over [prefix; tokens] (as decoder_common's `attention`, keeping the probabilities).

/**
 * One block of query rows and the key columns it can see: rows `[t0, t1)` of the new tokens see
 * the prefix and the new tokens up to their own, so the block reads only the first
 * `width = P + t1` key columns. The causal mask hides everything to the right of that. A graph
 * with one block (all rows, all columns) slices and pads nothing.
 */
interface QueryBlock {
  /** This block's rows of `[B, Hk, rep, T, hd]` (by key/value head), as `[B, Hk, rep * Tb, hd]`. */
  rows(x5: string): string;
  /** This block's rows, `[B, Hk, rep * Tb, hd]` -> `[B, Hk, rep, Tb, hd]`. */
  byHead(x: string): string;
  /** The first `width` columns of `x` along `axis` (the keys this block sees). */
  seen(x: string, axis: number): string;
  /** `[B, Hk, hd, width]` -> `[B, Hk, hd, S]`, zeros on the right. */
  widen(x: string): string;
  /** `[B, 1, rep * Tb, width]` the additive mask for the block's grouped queries. */
  mask: string;
}

/**
 * What the attention backward needs, per query block. Query heads are kept grouped by the
 * key/value head they read, `[B, Hk, rep * rows, ...]` (rep = H / Hk; query head h reads
 * key/value head h / rep, as HF's `repeat_kv`), so keys and values are never repeated: a group's
 * queries are rows of one product against their head's keys, and the dK and dV products sum over
 * the group by themselves.
 */
export interface AttentionSaved {
  blocks: {
    q: string; // [B, Hk, rep*Tb, hd], already scaled by 1/sqrt(hd)
    probs: string; // [B, Hk, rep*Tb, width]
    out: string; // [B, Hk, rep*Tb, hd]: probs V
  }[];
  k: string; // [B, Hk, S, hd]
  vT: string; // [B, Hk, hd, S]
}

/**
 * How many query blocks a causal attention is cut into. The scores, softmax and products of a
 * block cover only the key columns its rows can see, so with n blocks the `[T, S]` work drops
 * from `T (P + T)` to about `T (P + T (n + 1) / 2n)`: with stories260K's 20-token prefix and 110
 * tokens, 4 blocks do 68% of it. Each block adds nodes, and smaller ones, which pays only
 * - where that work is a large part of the step: where the keys are at least as many as the
 *   model is wide (a token's attention costs about 4 S d multiply-adds, its linear layers about
 *   24 d²). At GPT-2 small's d = 768 with 74 keys, 4 blocks made the step up to 5% slower;
 * - and on one thread: ORT splits each node across its threads, and small nodes split badly.
 *   stories260K's step was 6% faster with 4 blocks on one native thread and 8-12% on WASM, but
 *   1-8% slower on two native threads (bench/RESULTS.md, "Query blocks").
 *
 * @param c the model config
 * @param prefixLen P
 * @param maxLen the longest batch row the graph will see
 * @param threads the intra-op threads the graph runs on (undefined: ORT's choice, all cores)
 * @returns 4, or 1 (one block: plain attention)
 */
export function attentionQueryBlocks(
  c: ModelConfig,
  prefixLen: number,
  maxLen: number,
  threads: number | undefined,
): number {
  return threads === 1 && prefixLen + maxLen >= c.hiddenSize ? 4 : 1;
}

/**
 * The query blocks of this graph's batch (made once, shared by every layer).
 *
 * @param t the graph
 * @param P prefix length
 * @returns `t.queryBlockCount` blocks of about T / n rows (a batch needs at least n rows, or
 *   some would be empty, which ORT's reductions do not handle)
 */
function queryBlocks(t: TrainGraph, P: number): QueryBlock[] {
  const g = t.g, c = t.c, n = t.queryBlockCount, rep = c.numHeads / c.numKvHeads;
  const [Hk, hd, repDim] = [g.int64s([c.numKvHeads]), g.int64s([c.headDim]), g.int64s([rep])];
  const dims = (...parts: string[]) => g.op("Concat", parts, { axis: 0 });
  // allowzero: none of these sizes is 0, but a 0 would be a size, not "copy this dim".
  const reshape = (x: string, shape: string) => g.op("Reshape", [x, shape], { allowzero: 1 });
  const tile = (mask: string) => rep === 1 ? mask : g.op("Tile", [mask, g.int64s([1, 1, rep, 1])]);
  if (n === 1) {
    const rows = g.int64s([0, c.numKvHeads, -1, c.headDim]);
    const rows5 = g.int64s([0, c.numKvHeads, rep, -1, c.headDim]);
    return [{
      rows: (x5) => g.op("Reshape", [x5, rows]),
      byHead: (x) => g.op("Reshape", [x, rows5]),
      seen: (x) => x,
      widen: (x) => x,
      mask: tile(t.mask),
    }];
  }
  const T = g.op("Slice", [t.bt, g.int64s([1]), g.int64s([2])]);
  const S = g.op("Add", [T, g.int64s([P])]);
  const zero = g.int64s([0]);
  const bound = (i: number) =>
    i === 0 ? zero : i === n ? T : g.op("Div", [
      g.op("Add", [g.op("Mul", [T, g.int64s([i])]), g.int64s([n - 1])]),
      g.int64s([n]),
    ]);
  const blocks: QueryBlock[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = bound(i), t1 = bound(i + 1);
    const width = g.op("Add", [t1, g.int64s([P])]);
    const Tb = g.op("Sub", [t1, t0]);
    const rows = dims(t.batch, Hk, g.op("Mul", [Tb, repDim]), hd);
    const rows5 = dims(t.batch, Hk, repDim, Tb, hd);
    const mask = g.op("Slice", [t.mask, dims(t0, zero), dims(t1, width), g.int64s([2, 3])]);
    const padToS = dims(g.int64s([0, 0, 0, 0, 0, 0, 0]), g.op("Sub", [S, width]));
    blocks.push({
      rows: (x5) => reshape(g.op("Slice", [x5, t0, t1, g.int64s([3])]), rows),
      byHead: (x) => reshape(x, rows5),
      seen: (x, axis) => g.op("Slice", [x, zero, width, g.int64s([axis])]),
      widen: (x) => g.op("Pad", [x, padToS]),
      mask: tile(mask),
    });
  }
  return blocks;
}

/**
 * Scaled dot-product attention of new queries over `[past; new]` keys and values, one query
 * block at a time.
 *
 * @param t the graph
 * @param q `[B, H, T, hd]`
 * @param k `[B, Hk, T, hd]`
 * @param v `[B, Hk, T, hd]`
 * @param past the prefix's `[B, Hk, P, hd]` keys and values
 * @param P prefix length
 * @returns `y` `[M, H*hd]` and what the backward needs
 */
export function attentionForward(
  t: TrainGraph,
  q: string,
  k: string,
  v: string,
  past: { key: string; value: string },
  P: number,
): { y: string; saved: AttentionSaved } {
  const g = t.g, c = t.c;
  const K = g.op("Concat", [past.key, k], { axis: 2 });
  const V = g.op("Concat", [past.value, v], { axis: 2 });
  const kT = g.op("Transpose", [K], { perm: [0, 1, 3, 2] });
  // The scale goes on q ([B, H, T, hd]), not on the scores ([B, H, T, S]): S/hd times fewer
  // elements, and the same for the backward's scale.
  const q5 = t.byKvHead(g.op("Mul", [q, t.f(1 / Math.sqrt(c.headDim))]));
  const qBlocks = t.queryBlocks(P);
  const blocks = qBlocks.map((b) => {
    const qb = b.rows(q5);
    const probs = g.op("Softmax", [g.op("Add", [g.op("MatMul", [qb, b.seen(kT, 3)]), b.mask])], {
      axis: -1,
    });
    return { q: qb, probs, out: g.op("MatMul", [probs, b.seen(V, 2)]) };
  });
  const out = t.joinBlocks(blocks.map((b) => b.out), qBlocks);
  const vT = g.op("Transpose", [V], { perm: [0, 1, 3, 2] });
  return { y: t.merge(out, c.numHeads), saved: { blocks, k: K, vT } };
}

/**
 * Backward of {@link attentionForward}.
 *
 * @param t the graph
 * @param s the saved values
 * @param dy `[M, H*hd]`
 * @param P prefix length
 * @param needQuery whether dq is needed (not below the first trained value)
 * @returns dq `[B, H, T, hd]`, the new tokens' dk, dv `[B, Hk, T, hd]`, and the prefix's
 */
export function attentionBackward(
  t: TrainGraph,
  s: AttentionSaved,
  dy: string,
  P: number,
  needQuery: boolean,
): { dq?: string; dk: string; dv: string; dPast: { key: string; value: string } } {
  const g = t.g, c = t.c;
  const dy5 = t.byKvHead(t.heads(dy, c.numHeads));
  const swap = (x: string) => g.op("Transpose", [x], { perm: [0, 1, 3, 2] });
  const dKts: string[] = [], dVts: string[] = [], dqs: string[] = [];
  const qBlocks = t.queryBlocks(P);
  qBlocks.forEach((b, i) => {
    const { q, probs, out } = s.blocks[i];
    const dyb = b.rows(dy5);
    // y = probs V
    const dProbs = g.op("MatMul", [dyb, b.seen(s.vT, 3)]);
    // dV = probsᵀ dy and dK = dscoresᵀ q' are made transposed, as dyᵀ probs and q'ᵀ dscores:
    // [hd, width] results, width columns wide, instead of [width, hd] ones from a transposed
    // [rows, width] operand. MLAS runs the first at full vector width; hd is 8 at stories260K
    // (bench/RESULTS.md).
    dVts.push(b.widen(g.op("MatMul", [swap(dyb), probs])));
    // probs = softmax(scores): dscores = probs (dprobs - sum_s(dprobs probs)). The row sum equals
    // sum(dy out) (FlashAttention's D: sum_s (dy . v_s) p_s = dy . out), taken over hd
    // elements a row instead of the width, so no [rows, width] product is made for it.
    const rowDot = g.op("ReduceSum", [g.op("Mul", [dyb, out]), g.int64s([-1])], { keepdims: 1 });
    const dScores = g.op("Mul", [probs, g.op("Sub", [dProbs, rowDot])]);
    // scores = q' kᵀ with q' = q / sqrt(hd)
    dKts.push(b.widen(g.op("MatMul", [swap(q), dScores])));
    if (needQuery) dqs.push(g.op("MatMul", [dScores, b.seen(s.k, 2)]));
  });
  const sum = (xs: string[]) => xs.length === 1 ? xs[0] : g.op("Sum", xs);
  const dKt = sum(dKts), dVt = sum(dVts);
  const dq = needQuery
    ? g.op("Mul", [t.joinBlocks(dqs, qBlocks), t.f(1 / Math.sqrt(c.headDim))])
    : undefined;
  // [past; new] along the sequence axis, each part back to [B, Hk, n, hd].
  const cut = (xT: string, from: number, to: number) =>
    swap(g.op("Slice", [xT, g.int64s([from]), g.int64s([to]), g.int64s([3])]));
  const END = 2 ** 31 - 1;
  return {
    dq,
    dk: cut(dKt, P, END),
    dv: cut(dVt, P, END),
    dPast: { key: cut(dKt, 0, P), value: cut(dVt, 0, P) },
  };
}

// ---------------------------------------------------------------------------------------------
// Norms.

/**
 * LayerNorm over the last axis (the exporter's `LayerNormalization`), with its statistics.
 *
 * @returns `y`, and `mean`, `rstd` `[M, 1]`
 */
export function layerNorm(
  t: TrainGraph,
  x: string,
  weight: string,
  bias: string,
): { y: string; mean: string; rstd: string } {
  const [y, mean, rstd] = t.g.opN("LayerNormalization", [x, weight, bias], {
    axis: -1,
    epsilon: { float: t.c.normEps },
  }, { outputs: 3 });
  return { y, mean, rstd };
}

/**
 * Backward of {@link layerNorm}: with x̂ = (x - mean) rstd and u = dy γ,
 * dx = rstd (u - mean(u) - x̂ mean(u x̂)).
 */
export function layerNormBackward(
  t: TrainGraph,
  x: string,
  stats: { mean: string; rstd: string },
  weight: string,
  dy: string,
): string {
  const g = t.g;
  const mean = (v: string) => g.op("ReduceMean", [v], { axes: [-1], keepdims: 1 });
  const xhat = g.op("Mul", [g.op("Sub", [x, stats.mean]), stats.rstd]);
  const u = g.op("Mul", [dy, weight]);
  const inner = g.op("Sub", [
    g.op("Sub", [u, mean(u)]),
    g.op("Mul", [xhat, mean(g.op("Mul", [u, xhat]))]),
  ]);
  return g.op("Mul", [inner, stats.rstd]);
}

/**
 * Backward of the exporter's `rmsNorm` (y = w x r, r = 1 / sqrt(mean(x²) + eps)), recomputing
 * r from x: dx = r u - x r³ mean(u x), u = dy w.
 */
export function rmsNormBackward(t: TrainGraph, x: string, weight: string, dy: string): string {
  const g = t.g;
  const mean = (v: string) => g.op("ReduceMean", [v], { axes: [-1], keepdims: 1 });
  const r = g.op("Reciprocal", [
    g.op("Sqrt", [g.op("Add", [mean(g.op("Mul", [x, x])), t.f(t.c.normEps)])]),
  ]);
  const u = g.op("Mul", [dy, weight]);
  const r3 = g.op("Mul", [g.op("Mul", [r, r]), r]);
  return g.op("Sub", [
    g.op("Mul", [u, r]),
    g.op("Mul", [g.op("Mul", [x, r3]), mean(g.op("Mul", [u, x]))]),
  ]);
}

// ---------------------------------------------------------------------------------------------
// LM head and masked cross-entropy.

/**
 * The most bytes one `[rows, V]` float32 value of the LM head's loss may take before the head is
 * cut into row chunks. GPT-2 small at B=8, T=64 (103 MB logits a copy): 2 chunks lowered the
 * trainer's peak RSS by 0.20 GiB for a 2% slower step, 8 chunks by 0.29 GiB for 6%; at B=4, 2
 * chunks by 0.09 GiB for 5% (bench/RESULTS.md, "The LM head in row chunks").
 */
export const HEAD_CHUNK_BYTES = 32 * 2 ** 20;

/**
 * How many row chunks the LM head's loss is cut into, so that no `[rows, V]` float32 value of it
 * exceeds {@link HEAD_CHUNK_BYTES}: 1 for GPT-2 small at B=1, T=64 (13 MB), 2 at B=4 (51 MB), 75
 * for a 151,936-token vocabulary (Qwen) at 8 x 512 rows, whose whole logits would take 2.5 GB a
 * copy, several copies at once.
 *
 * @param c the model config
 * @param maxRows the most target rows a batch can have (maxBatch x maxLen)
 * @returns the chunk count
 */
export function headRowChunks(c: ModelConfig, maxRows: number): number {
  return Math.max(1, Math.ceil((maxRows * c.vocabSize * 4) / HEAD_CHUNK_BYTES));
}

/**
 * `logits = h tableᵀ`, the summed masked cross-entropy (output `loss_sum`), and its gradient
 * with respect to h: `dlogits = w (softmax - onehot)`, `dh = dlogits table`.
 *
 * Only the rows that count (weight > 0: the targets) get logits. The others (a prompt, padding)
 * have no loss and a zero gradient, so they skip the head's two `[rows, d] x [d, V]` products:
 * `Compress` keeps the target rows, and `ScatterND` puts their gradient back among zeros. On
 * data whose prompts are half the tokens (E2E), that is half of the head's work, which at GPT-2
 * small is a third of the step's FLOPs.
 *
 * With `t.headChunkCount` n > 1 the target rows are cut into n chunks (padded with rows of weight
 * 0 to a multiple of n, at least n), and each chunk's loss and gradient are made before the next
 * chunk starts: the next chunk's rows are sliced from an offset that reads the shape of this
 * chunk's gradient (a zero, but one ORT must wait for), and this chunk's loss from one that does
 * too. ONNX Runtime runs a node once its inputs exist and frees a value after its last reader, so
 * only one chunk's `[rows, V]` values exist at a time. The rows of a chunk are independent (each
 * row's softmax is its own), so nothing is recomputed.
 *
 * @param t the graph
 * @param h `[M, d]` final hidden states (after the last norm)
 * @param table `[V, d]` the LM head (tied embedding or lm_head)
 * @returns dh `[M, d]`
 */
export function lossAndHeadBackward(t: TrainGraph, h: string, table: string): string {
  const g = t.g, n = t.headChunkCount;
  const keep = g.op("Greater", [t.x.weights, g.floats([0], [])]); // [M] bool
  const hKept = g.op("Compress", [h, keep], { axis: 0 }); // [M', d]
  const targets = g.op("Compress", [t.x.targets, keep], { axis: 0 }); // [M']
  const weights = g.op("Compress", [t.x.weights, keep], { axis: 0 }); // [M']
  const head = n === 1
    ? headLossAndGradient(t, hKept, targets, weights, table)
    : headInRowChunks(t, hKept, targets, weights, table, n);
  g.op("ReduceSum", [head.perToken], { keepdims: 0 }, { outputs: ["loss_sum"] });
  g.output("loss_sum", "float32", []);
  const rows = g.op("Transpose", [g.op("NonZero", [keep])]); // [M', 1]
  const zeros = g.op("Mul", [h, g.floats([0], [])]); // [M, d]
  return g.op("ScatterND", [zeros, rows, head.dh]);
}

/**
 * {@link headLossAndGradient} over n row chunks of `[M', d]`, one after the other (see
 * {@link lossAndHeadBackward}): the same `perToken` `[M'', 1]` (M' rows and the padding's zeros)
 * and `dh` `[M', d]`.
 */
function headInRowChunks(
  t: TrainGraph,
  h: string,
  targets: string,
  weights: string,
  table: string,
  n: number,
): { perToken: string; dh: string } {
  const g = t.g, i64 = (v: number) => g.int64s([v]);
  const kept = g.op("Slice", [g.op("Shape", [h]), i64(0), i64(1)]); // [1]: M'
  const R = g.op("Max", [g.op("Div", [g.op("Add", [kept, i64(n - 1)]), i64(n)]), i64(1)]);
  const padRows = g.op("Sub", [g.op("Mul", [R, i64(n)]), kept]);
  const padEnd = (x: string, rank: number) => {
    const zeros = (k: number) => g.int64s(Array(k).fill(0));
    return g.op("Pad", [x, g.op("Concat", [zeros(rank), padRows, zeros(rank - 1)], { axis: 0 })]);
  };
  const [hPad, tPad, wPad] = [padEnd(h, 2), padEnd(targets, 1), padEnd(weights, 1)];
  const dhs: string[] = [], perTokens: string[] = [];
  let after = i64(0); // [1] a zero that exists only once the previous chunk is done
  for (let c = 0; c < n; c++) {
    const start = g.op("Add", [g.op("Mul", [R, i64(c)]), after]);
    const end = g.op("Add", [start, R]);
    const rows = (x: string) => g.op("Slice", [x, start, end, i64(0)]);
    const chunk = headLossAndGradient(t, rows(hPad), rows(tPad), rows(wPad), table);
    dhs.push(chunk.dh);
    after = g.op("Mul", [g.op("Slice", [g.op("Shape", [chunk.dh]), i64(0), i64(1)]), i64(0)]);
    perTokens.push(g.op("Slice", [chunk.perToken, after, i64(2 ** 31 - 1), i64(0)]));
  }
  return {
    perToken: g.op("Concat", perTokens, { axis: 0 }),
    dh: g.op("Slice", [g.op("Concat", dhs, { axis: 0 }), i64(0), kept, i64(0)]),
  };
}

/**
 * The masked cross-entropy of some rows and its gradient: `perToken` `[R, 1]` = -w log p(target),
 * and `dh` `[R, d]`.
 */
function headLossAndGradient(
  t: TrainGraph,
  h: string,
  targets: string,
  weights: string,
  table: string,
): { perToken: string; dh: string } {
  const g = t.g;
  const logits = g.op("Gemm", [h, table], { transB: 1 }); // [R, V]
  // ORT's LogSoftmax is one vectorized, threaded pass; ReduceLogSumExp and then `logits - lse`
  // were two slower ones (28 ms of a 0.9 s step at GPT-2 small B=4).
  const logProbs = g.op("LogSoftmax", [logits], { axis: -1 }); // [R, V]
  const target = g.op("Unsqueeze", [targets, g.int64s([1])]); // [R, 1]
  const picked = g.op("GatherElements", [logProbs, target], { axis: 1 });
  const w = g.op("Unsqueeze", [weights, g.int64s([1])]); // [R, 1]
  const negW = g.op("Neg", [w]);
  const perToken = g.op("Mul", [picked, negW]);
  const softmaxW = g.op("Mul", [g.op("Exp", [logProbs]), w]);
  const dLogits = g.op("ScatterElements", [softmaxW, target, negW], {
    axis: 1,
    reduction: "add",
  });
  return { perToken, dh: g.op("MatMul", [dLogits, table]) };
}

/** One layer's prefix keys and values, as graph values. */
export type Past = { key: string; value: string };

/**
 * Forward and backward of one family down to the prefix: returns each layer's d(past).
 *
 * @param t the graph (inputs declared)
 * @param w the frozen weights
 * @param past per layer, the prefix's `[B, Hk, P, hd]` keys and values
 * @param P prefix length
 * @returns per layer, the gradient of the summed loss with respect to `past`
 */
export type FamilyGraph = (t: TrainGraph, w: DecoderWeights, past: Past[], P: number) => Past[];
