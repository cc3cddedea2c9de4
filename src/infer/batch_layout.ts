/**
 * Where each row's tokens sit in a mixed batch, and what the attention mask
 * and positions say about them. Letters: B rows, P_b row b's prefix length,
 * Pmax = max P_b, T new tokens per row in this step.
 *
 * Columns of row b (the mask is `[B, Pmax + T_total]`):
 *
 *     [ prefix P_b | zeros up to Pmax (mask 0) | prompt | pad (mask 0) | generated ... ]
 *
 * Prompts are right-padded: every pad query then still sees its own row's real
 * tokens, so no query row is fully masked (a fully masked softmax can give NaN
 * in some exports, and a NaN value poisons later steps even at weight 0).
 * Positions ignore the padding: the j-th real token of row b sits at
 * `P_b + j` (docs/design.md §1). The next-token logits of row b are read at its own
 * last real column; generated tokens then share one column for all rows, at
 * position `P_b + (real tokens so far)`.
 *
 * A graph exported with `--optimize` attends with ORT's `GroupQueryAttention`, which reads only
 * each row's length from the mask (its row sum), not which columns are real: there
 * {@link RaggedLayout} keeps each row's cache packed from column 0 on (prefix, prompt,
 * generated), right-padded to the widest row, so that each row's attention costs its own length.
 *
 * @module
 */

/** Flat inputs of one forward pass plus where to read each row's logits. */
export interface StepTensors {
  /** `[B, T]`. */
  inputIds: number[];
  /** `[B, past + T]`. */
  attentionMask: number[];
  /** `[B, T]`. */
  positionIds: number[];
  /** T. */
  seqLen: number;
  /** Per row, the column in `[0, T)` whose logits predict the next token. */
  lastColumn: number[];
}

/** Cache columns `[from, to)` that the kept rows still need (the rest can be dropped). */
export type ColumnRange = readonly [from: number, to: number];

/** The growing mask and positions of a batch being decoded, in either layout. */
export interface DecodeLayout {
  /** Columns of the mask so far; equals the cache's `pastLen` between steps. */
  readonly width: number;
  /**
   * Lay out one decode step: each row feeds one token in a new column.
   *
   * @param tokens `[B]` the token each row feeds
   * @returns the step's tensors
   */
  step(tokens: readonly number[]): StepTensors;
  /**
   * Lay out a step of a batch of one row that feeds several tokens in new columns (its next
   * token and a draft to check; see `prompt_lookup.ts`).
   *
   * @param tokens the tokens the row feeds, in order
   * @returns the step's tensors; `lastColumn` is the last token's column
   * @throws {RangeError} if the batch has more than one row
   */
  feed(tokens: readonly number[]): StepTensors;
  /**
   * Forget the last `columns` columns of a batch of one row (draft tokens that were not
   * accepted): they leave the layout, and the caller drops them from the cache.
   *
   * @param columns how many trailing columns go
   * @throws {RangeError} if the batch has more than one row, or has fewer columns
   */
  rewind(columns: number): void;
  /** Position the next real token of row b gets. */
  nextPosition(b: number): number;
  /**
   * The cache columns that rows `rows` still attend to; the others can be dropped from the
   * cache without changing any result, since positions are explicit.
   */
  keptColumns(rows: readonly number[]): ColumnRange;
  /**
   * Keep rows `rows` (in that order), for compaction and beam reordering.
   *
   * @param rows source row of each new row
   * @param columns the columns to keep (default all; see {@link DecodeLayout.keptColumns})
   * @returns the new layout
   */
  selectRows(rows: readonly number[], columns?: ColumnRange): DecodeLayout;
  /**
   * Stack this layout's rows and then `other`'s (rows joining a running batch), matching
   * `KvCache.concat` with {@link DecodeLayout.padSide}.
   */
  concat(other: DecodeLayout): DecodeLayout;
  /** Where a narrower cache gets its zero columns when two are stacked. */
  readonly padSide: "left" | "right";
}

/**
 * Lay out a batch's first forward pass in the layout its graph needs.
 *
 * @param ragged whether the graph attends over per-row lengths (`--optimize`)
 * @param prefixLens P_b per row (0 = no prefix)
 * @param ids per row, the tokens to feed (rows may differ in length)
 * @param padId id fed in pad columns (any valid id: it is masked)
 * @returns the layout and the first step's tensors
 */
export function prefillLayout(
  ragged: boolean,
  prefixLens: readonly number[],
  ids: readonly (readonly number[])[],
  padId: number,
): { layout: DecodeLayout; step: StepTensors } {
  return ragged
    ? RaggedLayout.prefill(prefixLens, ids, padId)
    : BatchLayout.prefill(prefixLens, ids, undefined, padId);
}

/** The growing mask and positions of a batch being decoded, every row masked in place. */
export class BatchLayout implements DecodeLayout {
  readonly padSide = "left";
  /** Per row: mask over all columns so far (prefix padding included). */
  #mask: number[][];
  /** Per row: position of the next real token. */
  #nextPos: number[];

  private constructor(mask: number[][], nextPos: number[]) {
    this.#mask = mask;
    this.#nextPos = nextPos;
  }

  /**
   * Lay out the first forward pass.
   *
   * @param prefixLens P_b per row (0 = no prefix)
   * @param ids per row, the tokens to feed (rows may differ in length)
   * @param masks per row, an explicit mask over `ids` (1 real, 0 pad); when
   *   absent every id is real and shorter rows are right-padded with `padId`
   * @param padId id fed in pad columns (any valid id: it is masked)
   * @returns the layout and the first step's tensors
   */
  static prefill(
    prefixLens: readonly number[],
    ids: readonly (readonly number[])[],
    masks: readonly (readonly number[])[] | undefined,
    padId: number,
  ): { layout: BatchLayout; step: StepTensors } {
    const B = ids.length;
    const Pmax = Math.max(0, ...prefixLens);
    const T = Math.max(...ids.map((r) => r.length));
    const inputIds: number[] = [], attentionMask: number[] = [], positionIds: number[] = [];
    const rowsMask: number[][] = [], nextPos: number[] = [], lastColumn: number[] = [];
    for (let b = 0; b < B; b++) {
      const P = prefixLens[b];
      const m: number[] = [];
      for (let c = 0; c < Pmax; c++) m.push(c < P ? 1 : 0);
      let real = 0, last = 0;
      for (let j = 0; j < T; j++) {
        const present = j < ids[b].length;
        const isReal = present && (masks ? masks[b][j] === 1 : true);
        inputIds.push(present ? ids[b][j] : padId);
        m.push(isReal ? 1 : 0);
        // Pads take the position of the last real token (any in-range value works: they are masked).
        positionIds.push(P + Math.max(0, isReal ? real : real - 1));
        if (isReal) {
          real++;
          last = j;
        }
      }
      attentionMask.push(...m);
      rowsMask.push(m);
      nextPos.push(P + real);
      lastColumn.push(last);
    }
    return {
      layout: new BatchLayout(rowsMask, nextPos),
      step: { inputIds, attentionMask, positionIds, seqLen: T, lastColumn },
    };
  }

  /** Lay out one decode step: each row feeds one token in a new shared column. */
  step(tokens: readonly number[]): StepTensors {
    return oneTokenStep(tokens, this.#nextPos, (b) => {
      this.#mask[b].push(1);
      return this.#mask[b];
    });
  }

  feed(tokens: readonly number[]): StepTensors {
    oneRow(this.#mask.length);
    for (const _ of tokens) this.#mask[0].push(1);
    return tokensStep(tokens, this.#nextPos, this.#mask[0]);
  }

  rewind(columns: number): void {
    oneRow(this.#mask.length);
    rewindable(columns, this.width);
    this.#mask[0].length -= columns;
    this.#nextPos[0] -= columns;
  }

  nextPosition(b: number): number {
    return this.#nextPos[b];
  }

  get width(): number {
    return this.#mask[0]?.length ?? 0;
  }

  /** The leading columns that no row among `rows` attends to (mask 0 in all of them) go. */
  keptColumns(rows: readonly number[]): ColumnRange {
    const W = this.width;
    for (let c = 0; c < W; c++) {
      if (rows.some((r) => this.#mask[r][c] === 1)) return [c, W];
    }
    return [W, W];
  }

  selectRows(rows: readonly number[], columns: ColumnRange = [0, this.width]): BatchLayout {
    return new BatchLayout(
      rows.map((r) => this.#mask[r].slice(columns[0], columns[1])),
      rows.map((r) => this.#nextPos[r]),
    );
  }

  /**
   * Widths may differ: the narrower layout's rows get masked columns on the left. Each row
   * keeps its own positions, so the extra columns change no result.
   */
  concat(other: DecodeLayout): BatchLayout {
    if (!(other instanceof BatchLayout)) throw new TypeError("Cannot stack layouts of two kinds");
    const W = Math.max(this.width, other.width);
    const pad = (m: number[]) => [...new Array<number>(W - m.length).fill(0), ...m];
    return new BatchLayout(
      [...this.#mask.map(pad), ...other.#mask.map(pad)],
      [...this.#nextPos, ...other.#nextPos],
    );
  }
}

/**
 * Rows packed from column 0 on, for graphs that attend over per-row lengths (ORT's
 * `GroupQueryAttention`). Row b's cache holds its prefix, its prompt and its generated tokens in
 * columns `[0, len_b)`; the mask is `len_b` ones, then zeros up to the batch's width, and the
 * graph reads only its row sum. A decode step writes each row's token at its own column
 * `len_b`, so rows of different lengths never pay for the longest one.
 *
 * In the first pass all rows feed the longest prompt's T columns: a shorter prompt's pad
 * columns are cached too (the graph cannot tell them apart), then overwritten by the row's
 * next tokens, and never attended to since the row's length excludes them.
 */
export class RaggedLayout implements DecodeLayout {
  readonly padSide = "right";
  /**
   * Per row: cache columns holding its tokens, which is also the position of its next token
   * (the prefix fills columns and positions `[0, P_b)` alike).
   */
  #len: number[];
  #width: number;

  private constructor(len: number[], width: number) {
    this.#len = len;
    this.#width = width;
  }

  /**
   * Lay out the first forward pass: row b's prompt at columns `[P_b, P_b + T)`, right after
   * its own prefix, whatever the other rows' prefixes.
   *
   * @param prefixLens P_b per row (0 = no prefix); the cache holds each from column 0
   * @param ids per row, the tokens to feed (rows may differ in length)
   * @param padId id fed after a shorter prompt
   * @returns the layout and the first step's tensors
   */
  static prefill(
    prefixLens: readonly number[],
    ids: readonly (readonly number[])[],
    padId: number,
  ): { layout: RaggedLayout; step: StepTensors } {
    const Pmax = Math.max(0, ...prefixLens);
    const T = Math.max(...ids.map((r) => r.length));
    const inputIds: number[] = [], attentionMask: number[] = [], positionIds: number[] = [];
    const len: number[] = [], lastColumn: number[] = [];
    ids.forEach((row, b) => {
      const P = prefixLens[b];
      for (let j = 0; j < T; j++) {
        inputIds.push(j < row.length ? row[j] : padId);
        // Pads take the last real token's position: in range, and never attended to.
        positionIds.push(P + Math.min(j, row.length - 1));
      }
      for (let c = 0; c < Pmax + T; c++) attentionMask.push(c < P + T ? 1 : 0);
      len.push(P + row.length);
      lastColumn.push(row.length - 1);
    });
    return {
      layout: new RaggedLayout(len, Pmax + T),
      step: { inputIds, attentionMask, positionIds, seqLen: T, lastColumn },
    };
  }

  /**
   * Rows that hold only their prefixes (`prefixCache`'s columns), to feed their prompts one
   * token a step within a running batch (see `ContinuousBatch`).
   *
   * @param prefixLens P_b per row (0 = no prefix)
   * @returns the layout, `max P_b` columns wide
   */
  static start(prefixLens: readonly number[]): RaggedLayout {
    return new RaggedLayout([...prefixLens], Math.max(0, ...prefixLens));
  }

  get width(): number {
    return this.#width;
  }

  step(tokens: readonly number[]): StepTensors {
    const W = ++this.#width;
    // The token goes at column len_b, its position; oneTokenStep then advances len_b.
    return oneTokenStep(tokens, this.#len, (b) => {
      const n = this.#len[b] + 1;
      return Array.from({ length: W }, (_, c) => (c < n ? 1 : 0));
    });
  }

  feed(tokens: readonly number[]): StepTensors {
    oneRow(this.#len.length);
    // As in `step`, the cache grows by a column per token fed.
    const W = this.#width += tokens.length, n = this.#len[0] + tokens.length;
    const mask = Array.from({ length: W }, (_, c) => (c < n ? 1 : 0));
    return tokensStep(tokens, this.#len, mask);
  }

  rewind(columns: number): void {
    oneRow(this.#len.length);
    rewindable(columns, this.#len[0]);
    this.#len[0] -= columns;
    this.#width -= columns;
  }

  nextPosition(b: number): number {
    return this.#len[b];
  }

  /** The trailing columns past the longest kept row go. */
  keptColumns(rows: readonly number[]): ColumnRange {
    return [0, Math.max(0, ...rows.map((r) => this.#len[r]))];
  }

  selectRows(rows: readonly number[], columns: ColumnRange = [0, this.width]): RaggedLayout {
    if (columns[0] !== 0) throw new RangeError("A ragged layout keeps its columns from 0");
    return new RaggedLayout(rows.map((r) => this.#len[r]), columns[1]);
  }

  /** Widths may differ: the narrower layout's rows get unused columns on the right. */
  concat(other: DecodeLayout): RaggedLayout {
    if (!(other instanceof RaggedLayout)) throw new TypeError("Cannot stack layouts of two kinds");
    return new RaggedLayout([...this.#len, ...other.#len], Math.max(this.width, other.width));
  }
}

/**
 * One decode step's tensors: row b feeds `tokens[b]` at its next position (advanced here), with
 * the mask row `maskRow(b)` gives.
 */
function oneTokenStep(
  tokens: readonly number[],
  nextPos: number[],
  maskRow: (b: number) => readonly number[],
): StepTensors {
  const attentionMask: number[] = [], positionIds: number[] = [];
  tokens.forEach((_, b) => {
    attentionMask.push(...maskRow(b));
    positionIds.push(nextPos[b]++);
  });
  return {
    inputIds: [...tokens],
    attentionMask,
    positionIds,
    seqLen: 1,
    lastColumn: tokens.map(() => 0),
  };
}

/** The tensors of a step in which one row feeds `tokens` at its next positions (advanced here). */
function tokensStep(
  tokens: readonly number[],
  nextPos: number[],
  mask: readonly number[],
): StepTensors {
  const positionIds = tokens.map(() => nextPos[0]++);
  return {
    inputIds: [...tokens],
    attentionMask: [...mask],
    positionIds,
    seqLen: tokens.length,
    lastColumn: [tokens.length - 1],
  };
}

/** Multi-token steps and rewinds are for a batch of one row (drafts; see `prompt_lookup.ts`). */
function oneRow(rows: number): void {
  if (rows !== 1) throw new RangeError(`A draft step needs a batch of one row, not ${rows}`);
}

/** A rewind drops a whole number of the row's columns, at most all of them. */
function rewindable(columns: number, width: number): void {
  if (!Number.isInteger(columns) || columns < 0 || columns > width) {
    throw new RangeError(`Cannot rewind ${columns} of ${width} columns`);
  }
}
