import { e2eMetrics, parseReferenceGroups } from "../../src/eval/mod.ts";
import { corpusCider } from "../../src/eval/e2e/cider.ts";
import { corpusRougeL } from "../../src/eval/e2e/rouge_l.ts";
import { mtevalTokenize } from "../../src/eval/e2e/mteval_tokenize.ts";
import { ptbTokenize } from "../../src/eval/e2e/ptb_tokenize.ts";
import { corpusBleu } from "../../src/eval/e2e/bleu.ts";
import type { PrefixEdgeError } from "../../src/errors/mod.ts";
import { assert, assertAlmostEquals, assertEquals, assertThrows } from "../_assert.ts";
import { E2E_METRICS_REF } from "../_fixtures.ts";

const read = (f: string) => Deno.readTextFile(`${E2E_METRICS_REF}/${f}`);
const lines = (text: string) => text.replace(/\n$/, "").split("\n");

interface RefScores {
  BLEU: number;
  NIST: number | null;
  ROUGE_L: number;
  CIDEr: number;
}
const expected: Record<string, RefScores> = JSON.parse(await read("scores_full_precision.json"));
const refs = parseReferenceGroups(await read("refs.txt"));
const ref0 = refs.map((r) => r[0]);
// The reference set's "ref0-heldout" references: each MR's references without its first.
const heldout = refs.map((r) => r.length > 1 ? r.slice(1) : r);

const sets: [string, () => Promise<[string[], string[][]]>][] = [
  ["ref0", () => Promise.resolve([ref0, refs])],
  ["ref0-heldout", () => Promise.resolve([ref0, heldout])],
  ["template", async () => [lines(await read("template.hyp.txt")), refs]],
  ["shuffled", async () => [lines(await read("shuffled.hyp.txt")), refs]],
  ["empty-ish", async () => [lines(await read("empty-ish.hyp.txt")), refs]],
];

Deno.test("the reference set has 200 MRs with 1491 references", () => {
  assertEquals(refs.length, 200);
  assertEquals(refs.reduce((a, r) => a + r.length, 0), 1491);
});

for (const [name, load] of sets) {
  Deno.test(`e2eMetrics() matches the official scorer on the ${name} set`, async () => {
    const [hyps, references] = await load();
    assertEquals(hyps.length, 200);
    const s = e2eMetrics(hyps, references);
    const want = expected[name];
    assertAlmostEquals(s.bleu, want.BLEU, 1e-4, `BLEU ${s.bleu} vs ${want.BLEU}`);
    if (want.NIST === null) {
      // The scorer crashes here (one-word hypotheses); we must return a finite value.
      assert(Number.isFinite(s.nist), `NIST ${s.nist}`);
    } else assertAlmostEquals(s.nist, want.NIST, 1e-3, `NIST ${s.nist} vs ${want.NIST}`);
    assertAlmostEquals(s.rougeL, want.ROUGE_L, 1e-3, `ROUGE-L ${s.rougeL} vs ${want.ROUGE_L}`);
    assertAlmostEquals(s.cider, want.CIDEr, 1e-2, `CIDEr ${s.cider} vs ${want.CIDEr}`);
    assertEquals(s.meteor, undefined);
  });
}

Deno.test("ROUGE-L and CIDEr on the scorer's own tokens match it to 1e-9", async () => {
  // The tokens the scorer's ROUGE-L/CIDEr saw, produced by our PTB tokenizer from refs.txt;
  // the next test checks that tokenizer against the scorer's tokens.
  const tokRefs = refs.map((rs) => rs.map((r) => ptbTokenize(r).join(" ")));
  const hyp = lines(await read("tok/template.hyp.tok.txt"));
  assertAlmostEquals(corpusRougeL(hyp, tokRefs), expected.template.ROUGE_L, 1e-9);
  assertAlmostEquals(corpusCider(hyp, tokRefs), expected.template.CIDEr, 1e-9);
});

Deno.test("ptbTokenize() gives the scorer's tokens on the template and shuffled sets", async () => {
  for (const set of ["template", "shuffled"]) {
    const raw = lines(await read(`${set}.hyp.txt`));
    const tok = lines(await read(`tok/${set}.hyp.tok.txt`));
    raw.forEach((line, i) => assertEquals(ptbTokenize(line).join(" "), tok[i], `${set} ${i + 1}`));
  }
  assertEquals(
    ptbTokenize("It isn't cheap (£20-25), the Vaults' pub. Family -friendly").join(" "),
    "it is n't cheap -lrb- # 20-25 -rrb- the vaults pub family friendly",
  );
});

Deno.test("mtevalTokenize() splits punctuation as mteval-v13a does", () => {
  assertEquals(mtevalTokenize("It costs £20.50, near (the) river."), [
    "It",
    "costs",
    "£20.50",
    ",",
    "near",
    "(",
    "the",
    ")",
    "river",
    ".",
  ]);
  assertEquals(mtevalTokenize("1,000 a,b 20-25 x-y &amp;"), [
    "1,000",
    "a",
    ",",
    "b",
    "20",
    "-",
    "25",
    "x-y",
    "&",
  ]);
  assertEquals(mtevalTokenize(""), [""]);
});

Deno.test("BLEU by hand: brevity penalty and clipped precisions", () => {
  // hyp "the the cat" vs ref "the cat sat on": p1 = 2/3 (clipped), p2 = 1/2, p3 = 1e-15/1, ...
  const bleu2 = corpusBleu([["the", "the", "cat"]], [[["the", "cat", "sat", "on"]]], 2);
  const want = Math.exp(1 - 4 / 3) * Math.sqrt((2 / 3) * (1 / 2));
  assertAlmostEquals(bleu2, want, 1e-12);
});

Deno.test("e2eMetrics() is case-insensitive and refuses bad input with INVALID_INPUT", () => {
  const a = e2eMetrics(["THE VAULTS IS A PUB."], [["the vaults is a pub."]]);
  assertAlmostEquals(a.bleu, 1, 1e-12);
  assertAlmostEquals(a.rougeL, 1, 1e-12);
  const code = (e: unknown) => assertEquals((e as PrefixEdgeError).code, "INVALID_INPUT");
  assertThrows(() => e2eMetrics(["a"], []), code);
  assertThrows(() => e2eMetrics([], []), code);
  assertThrows(() => e2eMetrics(["a"], [[]]), code);
});
