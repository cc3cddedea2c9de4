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

/** The growing mask and positions of a batch being decoded. */
export class BatchLayout {
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

  /**
   * Lay out one decode step: each row feeds one token in a new shared column.
   *
   * @param tokens `[B]` the token each row feeds
   * @returns the step's tensors
   */
  step(tokens: readonly number[]): StepTensors {
    const attentionMask: number[] = [], positionIds: number[] = [];
    for (let b = 0; b < tokens.length; b++) {
      this.#mask[b].push(1);
      attentionMask.push(...this.#mask[b]);
      positionIds.push(this.#nextPos[b]++);
    }
    return {
      inputIds: [...tokens],
      attentionMask,
      positionIds,
      seqLen: 1,
      lastColumn: tokens.map(() => 0),
    };
  }

  /** Position the next real token of row b gets. */
  nextPosition(b: number): number {
    return this.#nextPos[b];
  }

  /** Columns of the mask so far; equals the cache's `pastLen` between steps. */
  get width(): number {
    return this.#mask[0]?.length ?? 0;
  }

  /**
   * How many leading columns no row among `rows` attends to (mask 0 in all of
   * them). Those columns can be dropped from the cache without changing any
   * result, since positions are explicit.
   *
   * @param rows the rows that stay
   * @returns the count of leading all-masked columns
   */
  leadingMasked(rows: readonly number[]): number {
    const W = this.width;
    for (let c = 0; c < W; c++) {
      if (rows.some((r) => this.#mask[r][c] === 1)) return c;
    }
    return W;
  }

  /**
   * Keep rows `rows` (in that order), for compaction and beam reordering.
   *
   * @param rows source row of each new row
   * @param dropColumns leading columns to leave out (see {@link BatchLayout.leadingMasked})
   * @returns the new layout
   */
  selectRows(rows: readonly number[], dropColumns = 0): BatchLayout {
    return new BatchLayout(
      rows.map((r) => this.#mask[r].slice(dropColumns)),
      rows.map((r) => this.#nextPos[r]),
    );
  }

  /**
   * Stack two layouts (rows of `a`, then rows of `b`) whose widths may
   * differ: the narrower one's rows get masked columns on the left, matching
   * `KvCache.concat`. Each row keeps its own positions, so the extra columns
   * change no result.
   *
   * @param a the running rows
   * @param b the rows that join
   * @returns the joined layout, `max(a.width, b.width)` columns wide
   */
  static concat(a: BatchLayout, b: BatchLayout): BatchLayout {
    const W = Math.max(a.width, b.width);
    const pad = (m: number[]) => [...new Array<number>(W - m.length).fill(0), ...m];
    return new BatchLayout(
      [...a.#mask.map(pad), ...b.#mask.map(pad)],
      [...a.#nextPos, ...b.#nextPos],
    );
  }
}
