/** Mask and position semantics of a mixed batch (DESIGN §1, §4). */
import { assertEquals } from "../_assert.ts";
import { BatchLayout, RaggedLayout } from "../../src/infer/batch_layout.ts";

Deno.test("prefill pads shorter prefixes and prompts, and positions start at each row's P", () => {
  // Row 0: P=2, prompt [7, 8, 9]; row 1: P=0, prompt [5]; row 2: P=1, prompt [4, 4].
  const { layout, step } = BatchLayout.prefill([2, 0, 1], [[7, 8, 9], [5], [4, 4]], undefined, 0);
  assertEquals(step.seqLen, 3);
  assertEquals(step.inputIds, [7, 8, 9, 5, 0, 0, 4, 4, 0]);
  // [B, Pmax + T] = [3, 5]
  assertEquals(step.attentionMask, [
    ...[1, 1, 1, 1, 1],
    ...[0, 0, 1, 0, 0],
    ...[1, 0, 1, 1, 0],
  ]);
  assertEquals(step.positionIds, [2, 3, 4, 0, 0, 0, 1, 2, 2]);
  assertEquals(step.lastColumn, [2, 0, 1]);
  // Generated tokens share one column; positions continue per row.
  const s1 = layout.step([11, 12, 13]);
  assertEquals(s1.positionIds, [5, 1, 3]);
  assertEquals(s1.attentionMask, [
    ...[1, 1, 1, 1, 1, 1],
    ...[0, 0, 1, 0, 0, 1],
    ...[1, 0, 1, 1, 0, 1],
  ]);
  const kept = layout.selectRows([2]);
  assertEquals(kept.step([1]).positionIds, [4]);
});

Deno.test("prefill with an explicit mask counts positions over real tokens only", () => {
  const { step } = BatchLayout.prefill([3, 3], [[1, 2, 3], [0, 4, 5]], [[1, 1, 0], [0, 1, 1]], 0);
  assertEquals(step.positionIds, [3, 4, 4, 3, 3, 4]);
  assertEquals(step.lastColumn, [1, 2]);
  assertEquals(step.attentionMask, [1, 1, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1]);
});

Deno.test("a ragged layout packs each row from column 0 and its mask gives only its length", () => {
  // The same rows: P = 2, 0, 1; prompts of 3, 1 and 2 tokens.
  const { layout, step } = RaggedLayout.prefill([2, 0, 1], [[7, 8, 9], [5], [4, 4]], 0);
  assertEquals(step.inputIds, [7, 8, 9, 5, 0, 0, 4, 4, 0]);
  // Width Pmax + T = 5; each row counts its prefix and all T fed columns (pads are cached too).
  assertEquals(step.attentionMask, [
    ...[1, 1, 1, 1, 1],
    ...[1, 1, 1, 0, 0],
    ...[1, 1, 1, 1, 0],
  ]);
  assertEquals(step.positionIds, [2, 3, 4, 0, 0, 0, 1, 2, 2]);
  assertEquals(step.lastColumn, [2, 0, 1]);
  // The next token of each row goes right after its real tokens: lengths 5, 1, 3, plus one.
  const s1 = layout.step([11, 12, 13]);
  assertEquals(s1.positionIds, [5, 1, 3]);
  assertEquals(s1.attentionMask, [
    ...[1, 1, 1, 1, 1, 1],
    ...[1, 1, 0, 0, 0, 0],
    ...[1, 1, 1, 1, 0, 0],
  ]);
  // Rows 1 and 2 keep columns [0, 4): row 2's length; the rest is past every kept row.
  assertEquals(layout.keptColumns([1, 2]), [0, 4]);
  const kept = layout.selectRows([2, 1], [0, 4]);
  assertEquals(kept.width, 4);
  assertEquals(kept.step([1, 2]).attentionMask, [...[1, 1, 1, 1, 1], ...[1, 1, 1, 0, 0]]);
  // Rows that start with only a prefix cached, joined on the right.
  const joined = kept.concat(RaggedLayout.start([3]));
  assertEquals([joined.width, joined.padSide], [5, "right"]);
  const s2 = joined.step([5, 6, 7]);
  assertEquals(s2.positionIds, [5, 3, 3]);
  assertEquals(s2.attentionMask, [
    ...[1, 1, 1, 1, 1, 1],
    ...[1, 1, 1, 1, 0, 0],
    ...[1, 1, 1, 1, 0, 0],
  ]);
});
