/**
 * Slot coverage of data-to-text output: does a generated text name every value of its input
 * record, and no other value that the record's slots can take? This is the "told exactly"
 * check of record-to-story tasks such as `data/pet-stories`, where a fluent story about the
 * wrong child is still a wrong story however high its BLEU.
 *
 * A record is `slot: value | slot: value | ...` (the E2E meaning-representation shape). The
 * values each slot can take come with the data, in a `slots.json` beside the data file
 * (`{ "slots": { "name": ["Max", ...], ... } }`). A value is named when it occurs as a whole
 * word (or words), in any case.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";

/** The values each slot of a task's records can take. */
export type SlotValues = Record<string, readonly string[]>;

/** What {@link slotMetrics} returns. */
export interface SlotScores {
  /** Share of outputs that name all of their record's values and no other listed value. */
  exact: number;
  /** Per slot, the share of outputs that name that slot's value. */
  named: Record<string, number>;
  /** Per slot, the share of outputs that name another value of that slot. */
  wrong: Record<string, number>;
}

/**
 * Parse a record `slot: value | slot: value`.
 *
 * @param input the record text
 * @returns slot -> value, in order
 *
 * @example A pet-stories record
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { parseRecord } from "./slot_metrics.ts";
 * assertEquals(parseRecord("name: Max | animal: dog"), { name: "Max", animal: "dog" });
 * ```
 */
export function parseRecord(input: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of input.split("|")) {
    const at = part.indexOf(":");
    if (at <= 0) continue;
    const key = part.slice(0, at).trim(), value = part.slice(at + 1).trim();
    if (key && value) out[key] = value;
  }
  return out;
}

function wordPattern(value: string): RegExp {
  const escaped = value.trim().replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/\s+/g, "\\s+");
  return new RegExp(`(?<![\\p{L}\\p{N}])${escaped}(?![\\p{L}\\p{N}])`, "iu");
}

/**
 * Which slots an output gets right: the value named, and no other value of the slot.
 *
 * @param input the record
 * @param output the generated text
 * @param slots the values each slot can take
 * @returns per slot of the record: whether its value is named, and whether another is
 *
 * @example A story about the wrong child
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { checkSlots } from "./slot_metrics.ts";
 * const slots = { name: ["Bob", "Sue"], animal: ["cat", "dog"] };
 * const r = checkSlots("name: Bob | animal: cat", "A cat named Sue.", slots);
 * assertEquals(r, { name: { named: false, wrong: true }, animal: { named: true, wrong: false } });
 * ```
 */
export function checkSlots(
  input: string,
  output: string,
  slots: SlotValues,
): Record<string, { named: boolean; wrong: boolean }> {
  const record = parseRecord(input);
  const out: Record<string, { named: boolean; wrong: boolean }> = {};
  for (const [slot, value] of Object.entries(record)) {
    if (!(slot in slots)) continue;
    const named = wordPattern(value).test(output);
    const wrong = slots[slot].some((v) =>
      v.toLowerCase() !== value.toLowerCase() && wordPattern(v).test(output)
    );
    out[slot] = { named, wrong };
  }
  return out;
}

/**
 * Score outputs against their records.
 *
 * @param inputs the records
 * @param outputs the generated texts, one per record
 * @param slots the values each slot can take
 * @returns the exact share and the per-slot shares
 * @throws {PrefixEdgeError} `INVALID_INPUT` when the lists differ in length or are empty
 *
 * @example Two stories, one told exactly
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { slotMetrics } from "./slot_metrics.ts";
 * const slots = { name: ["Bob", "Sue"], place: ["park", "yard"] };
 * const s = slotMetrics(
 *   ["name: Bob | place: park", "name: Sue | place: yard"],
 *   ["Bob played in the park.", "Sue played in the park."],
 *   slots,
 * );
 * assertEquals(s.exact, 0.5);
 * assertEquals(s.named, { name: 1, place: 0.5 });
 * ```
 */
export function slotMetrics(
  inputs: readonly string[],
  outputs: readonly string[],
  slots: SlotValues,
): SlotScores {
  if (inputs.length !== outputs.length || inputs.length === 0) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      `Cannot score slots: ${inputs.length} records and ${outputs.length} outputs`,
    );
  }
  const named: Record<string, number> = {}, wrong: Record<string, number> = {};
  for (const slot of Object.keys(slots)) named[slot] = wrong[slot] = 0;
  let exact = 0;
  inputs.forEach((input, i) => {
    const r = checkSlots(input, outputs[i], slots);
    let ok = Object.keys(r).length > 0;
    for (const [slot, { named: n, wrong: w }] of Object.entries(r)) {
      if (n) named[slot]++;
      if (w) wrong[slot]++;
      if (!n || w) ok = false;
    }
    if (ok) exact++;
  });
  const share = (o: Record<string, number>) =>
    Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v / inputs.length]));
  return { exact: exact / inputs.length, named: share(named), wrong: share(wrong) };
}

/**
 * Check a parsed `slots.json`.
 *
 * @param raw the parsed JSON
 * @param path the file, for messages
 * @returns the slot values
 * @throws {PrefixEdgeError} `DATA_INVALID` naming what is wrong
 *
 * @example
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { parseSlotValues } from "./slot_metrics.ts";
 * assertEquals(parseSlotValues({ slots: { name: ["Max"] } }, "slots.json"), { name: ["Max"] });
 * ```
 */
export function parseSlotValues(raw: unknown, path: string): SlotValues {
  const slots = (raw as { slots?: unknown } | null)?.slots;
  const bad = (why: string) =>
    new PrefixEdgeError("DATA_INVALID", `Cannot read the slot values in ${path}: ${why}`);
  if (slots === null || typeof slots !== "object" || Array.isArray(slots)) {
    throw bad(`expected { "slots": { "<slot>": ["value", ...] } }`);
  }
  const out: Record<string, string[]> = {};
  for (const [slot, values] of Object.entries(slots)) {
    if (
      !Array.isArray(values) || values.length === 0 ||
      !values.every((v) => typeof v === "string" && v.trim() !== "")
    ) {
      throw bad(`slot "${slot}" must list one or more non-empty strings`);
    }
    out[slot] = values;
  }
  if (Object.keys(out).length === 0) throw bad("it lists no slots");
  return out;
}
