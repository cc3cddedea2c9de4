/**
 * Writes data/pet-stories/{train,dev}.jsonl and slots.json: short stories in the style of the TinyStories
 * corpus that stories260K was trained on, each told from a small record (the E2E task's
 * data-to-text shape, in a story model's words). The input names a pet, its kind, a place
 * and a thing; the output is a five-sentence story about exactly those. Dev rows use
 * combinations that never occur in training, so a trained prefix must use the input.
 *
 *   deno run --allow-write data/pet-stories/generate.ts
 *
 * The same seed always writes the same files (they are committed; this script is their source).
 *
 * @module
 */
const NAMES = ["Max", "Lily", "Tom", "Sue", "Ben", "Mia", "Sam", "Tim", "Anna", "Bob"];
const ANIMALS = ["dog", "cat", "bird", "fish", "bunny", "duck", "frog", "bear"];
const PLACES = ["park", "garden", "forest", "house", "pond", "yard"];
const THINGS = ["ball", "box", "hat", "toy", "stick", "flower", "cake", "kite"];
const MOODS = ["happy", "glad", "excited"];

if (Deno.args.includes("--help")) {
  console.log([
    "Usage: deno run --allow-write data/pet-stories/generate.ts",
    "       deno run --allow-write data/pet-stories/generate.ts --held-out N --out FILE",
    "",
    "Rewrites train.jsonl, dev.jsonl and slots.json beside this script. With --held-out,",
    "writes N more records (with their stories) that appear in neither file, to FILE.",
  ].join("\n"));
  Deno.exit(0);
}
const heldAt = Deno.args.indexOf("--held-out");
const outAt = Deno.args.indexOf("--out");
const heldOut = heldAt >= 0 ? Number(Deno.args[heldAt + 1]) : 0;
if (heldAt >= 0 && (!Number.isInteger(heldOut) || heldOut < 1 || outAt < 0 || !Deno.args[outAt + 1])) {
  console.error("error: --held-out takes a positive count, and needs --out FILE");
  Deno.exit(2);
}

let seed = 20261129;
const next = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32;
const pick = <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)];

function story(name: string, animal: string, place: string, thing: string): string {
  const mood = pick(MOODS);
  return `Once upon a time, there was a ${animal} named ${name}. ${name} liked to play in the ${place}. ` +
    `One day, ${name} found a ${thing} in the ${place}. ${name} was very ${mood} and played with the ${thing} all day. The end.`;
}

const rows = new Map<string, { input: string; output: string }>();
for (const name of NAMES) {
  for (const animal of ANIMALS) {
    for (const place of PLACES) {
      for (const thing of THINGS) {
        const input = `name: ${name} | animal: ${animal} | place: ${place} | thing: ${thing}`;
        rows.set(input, { input, output: story(name, animal, place, thing) });
      }
    }
  }
}
// Shuffle, then hold out 40 combinations for dev and keep 600 for training.
const all = [...rows.values()];
for (let i = all.length - 1; i > 0; i--) {
  const j = Math.floor(next() * (i + 1));
  [all[i], all[j]] = [all[j], all[i]];
}
const dir = new URL(".", import.meta.url);
const jsonl = (xs: typeof all) => xs.map((x) => JSON.stringify(x)).join("\n") + "\n";
if (heldOut > 0) {
  // The records after the first 640 of the same shuffle: in neither file, by construction.
  const rest = all.slice(640);
  if (heldOut > rest.length) {
    console.error(`error: only ${rest.length} records are in neither file`);
    Deno.exit(2);
  }
  await Deno.writeTextFile(Deno.args[outAt + 1], jsonl(rest.slice(0, heldOut)));
  console.log(`wrote ${heldOut} held-out records to ${Deno.args[outAt + 1]}`);
  Deno.exit(0);
}
await Deno.writeTextFile(new URL("dev.jsonl", dir), jsonl(all.slice(0, 40)));
await Deno.writeTextFile(new URL("train.jsonl", dir), jsonl(all.slice(40, 640)));
// The values each slot can take: `train` and `eval` use them to check that a story names its
// record's values and no others (src/eval/slot_metrics.ts).
const slots = { slots: { name: NAMES, animal: ANIMALS, place: PLACES, thing: THINGS } };
await Deno.writeTextFile(new URL("slots.json", dir), JSON.stringify(slots, null, 2) + "\n");
console.log("wrote train.jsonl (600), dev.jsonl (40) and slots.json");
