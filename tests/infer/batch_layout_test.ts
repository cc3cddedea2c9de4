/** Mask and position semantics of a mixed batch (DESIGN §1, §4). */
import { assertEquals } from "../_assert.ts";
import { BatchLayout } from "../../src/infer/batch_layout.ts";

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
