/**
 * The E2E NLG Challenge metrics, computed as the official scorer
 * (tuetschek/e2e-metrics, `measure_scores.py -p`) computes them:
 *
 * - BLEU-4 and NIST-5 in its Python mode (`metrics/pymteval.py`):
 *   mteval-v13a tokenization, case-insensitive, corpus-level, several
 *   references per input. BLEU is a fraction in [0, 1], as the scorer prints it.
 * - ROUGE-L and CIDEr(-D) as its bundled `pycocoevalcap` computes them, on
 *   PTB-tokenized, lowercased text with punctuation dropped.
 * - METEOR is not computed: it needs METEOR 1.5's Java jar and its paraphrase
 *   tables, which the scorer runs as a subprocess; there is no reference
 *   output to match a port against.
 *
 * Every input line is trimmed first, as the scorer strips every line it reads.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import { corpusBleu } from "./e2e/bleu.ts";
import { corpusCider } from "./e2e/cider.ts";
import { mtevalTokenize } from "./e2e/mteval_tokenize.ts";
import { corpusNist } from "./e2e/nist.ts";
import { ptbTokenize } from "./e2e/ptb_tokenize.ts";
import { corpusRougeL } from "./e2e/rouge_l.ts";

/** The scores the official E2E scorer prints. */
export interface E2eScores {
  /** Corpus BLEU-4 as a fraction in [0, 1] (Python-mode `BLEUScore`). */
  bleu: number;
  /** Corpus NIST-5 (Python-mode `NISTScore`). */
  nist: number;
  /** Mean ROUGE-L F-measure, beta 1.2. */
  rougeL: number;
  /** Mean CIDEr-D (IDF from this set's references). */
  cider: number;
  /** METEOR: never set by this implementation (see the module notes). */
  meteor?: number;
}

/**
 * Score generated texts against their references with the E2E metrics.
 *
 * @param hypotheses one generated text per input `[N]`
 * @param references the references of each input `[N][R_i]`, `R_i >= 1`
 * @returns BLEU, NIST, ROUGE-L and CIDEr (no METEOR)
 * @throws {PrefixEdgeError} `INVALID_INPUT` when the lists differ in length,
 *   are empty, or an input has no reference
 *
 * @example Score two outputs
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { e2eMetrics } from "./e2e_metrics.ts";
 * const s = e2eMetrics(
 *   ["The Vaults is a pub near the river.", "Aromi is a cheap cafe."],
 *   [["The Vaults is a pub by the river.", "Near the river is The Vaults pub."], [
 *     "Aromi is a cheap coffee shop.",
 *   ]],
 * );
 * assertEquals([s.bleu > 0 && s.bleu < 1, s.nist > 0], [true, true]);
 * ```
 */
export function e2eMetrics(hypotheses: string[], references: string[][]): E2eScores {
  const bad = (why: string): never => {
    throw new PrefixEdgeError("INVALID_INPUT", `Cannot compute the E2E metrics: ${why}`);
  };
  if (!Array.isArray(hypotheses) || !Array.isArray(references)) {
    bad("pass an array of hypotheses and an array of reference lists");
  }
  if (hypotheses.length !== references.length) {
    bad(`${hypotheses.length} hypotheses but ${references.length} reference lists`);
  }
  if (hypotheses.length === 0) bad("there are no hypotheses");
  references.forEach((refs, i) => {
    if (!Array.isArray(refs) || refs.length === 0) bad(`input ${i} has no reference`);
  });
  const hyps = hypotheses.map((h) => String(h).trim());
  const refs = references.map((rs) => rs.map((r) => String(r).trim()));

  const lower = (toks: string[]) => toks.map((t) => t.toLowerCase());
  const mtHyp = hyps.map((h) => lower(mtevalTokenize(h)));
  const mtRefs = refs.map((rs) => rs.map((r) => lower(mtevalTokenize(r))));
  const ptbHyp = hyps.map((h) => ptbTokenize(h).join(" "));
  const ptbRefs = refs.map((rs) => rs.map((r) => ptbTokenize(r).join(" ")));
  return {
    bleu: corpusBleu(mtHyp, mtRefs),
    nist: corpusNist(mtHyp, mtRefs),
    rougeL: corpusRougeL(ptbHyp, ptbRefs),
    cider: corpusCider(ptbHyp, ptbRefs),
  };
}

/**
 * Group references as the scorer's plain-text format holds them: one
 * reference per line, a blank line between inputs.
 *
 * @param text the file's text
 * @returns the references of each input, in order
 *
 * @example Two inputs
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { parseReferenceGroups } from "./e2e_metrics.ts";
 * assertEquals(parseReferenceGroups("a\nb\n\nc\n"), [["a", "b"], ["c"]]);
 * ```
 */
export function parseReferenceGroups(text: string): string[][] {
  const groups: string[][] = [];
  let cur: string[] = [];
  for (const line of text.replace(/\r\n?/g, "\n").split("\n")) {
    if (line.trim() === "") {
      if (cur.length) groups.push(cur);
      cur = [];
    } else cur.push(line.trim());
  }
  if (cur.length) groups.push(cur);
  return groups;
}
