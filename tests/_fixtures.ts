/**
 * Paths to the oracle fixtures and small helpers for tests.
 * Every fixture lives in tests/fixtures/ (provenance in its README.md), so a clone alone runs the
 * suite; the embedded default model lives in models/.
 */
import { fileURLToPath as fromFileUrl } from "node:url";

/** Repository root. */
export const ROOT = fromFileUrl(new URL("../", import.meta.url));
/** tests/fixtures: the oracle fixtures and tokenizer files the tests read. */
export const FIXTURES = fromFileUrl(new URL("./fixtures/", import.meta.url));
/** The PyTorch oracle for GPT-2. */
export const GPT2_TINY = `${FIXTURES}gpt2-tiny`;
/**
 * A GPT-2 for text in and text out: gpt2-tiny's random weights with the GPT-2 byte-level BPE cut
 * to its first 1000 ids (`<|endoftext|>` = 999). See tests/fixtures/gpt2-text/derive.ts.
 */
export const GPT2_TOK = `${FIXTURES}gpt2-text`;
/** The PyTorch oracle for Llama. */
export const LLAMA_TINY = `${FIXTURES}llama-tiny`;
/** The PyTorch oracle for Qwen2 (q/k/v biases). */
export const QWEN2_TINY = `${FIXTURES}qwen2-tiny`;
/** The PyTorch oracle for Qwen3 (head_dim != hidden/heads, q/k norm). */
export const QWEN3_TINY = `${FIXTURES}qwen3-tiny`;
/** The PyTorch oracle for Llama 3 rope scaling and an untied head. */
export const LLAMA3_TINY = `${FIXTURES}llama3-tiny`;
/** The embedded default model (a copy of ../shared/models/stories260K). */
export const STORIES = `${ROOT}models/stories260K`;
/** The real GPT-2 tokenizer files (tokenizer.json and its config). */
export const GPT2_TOKENIZER = `${FIXTURES}tokenizers/gpt2`;

/** One oracle case from cases.json. */
export interface OracleCase {
  name: string;
  reparam: "none" | "mlp" | "residual";
  gate: boolean;
  prefix_len: number;
  mid_dim: number;
  loss: number;
  file: string;
  greedy?: { prompt: number[]; tokens: number[] };
}

/** cases.json of an oracle folder. */
export interface OracleCases {
  batch: { input_ids: number[][]; labels: number[][]; attention_mask: number[][] };
  cases: OracleCase[];
}

/** @returns the parsed cases.json of an oracle folder */
export async function readCases(dir: string): Promise<OracleCases> {
  return JSON.parse(await Deno.readTextFile(`${dir}/cases.json`));
}

/** Largest absolute difference between two arrays of equal length. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/**
 * Largest absolute difference between two `[B, T, V]` logit arrays over the positions where
 * `mask` (`[B][T]`) is 1.
 */
export function maskedMaxDiff(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  mask: number[][],
  V: number,
): number {
  let m = 0;
  mask.forEach((row, bi) =>
    row.forEach((on, t) => {
      if (!on) return;
      const base = (bi * row.length + t) * V;
      for (let v = 0; v < V; v++) m = Math.max(m, Math.abs(a[base + v] - b[base + v]));
    })
  );
  return m;
}

/** ||a - b|| / ||b|| (relative L2 error against the reference b). */
export function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num) / Math.sqrt(den || 1);
}

/** The official E2E scorer's numbers on small hypothesis sets (copied into the repo, see its LICENSE.md). */
export const E2E_METRICS_REF = `${ROOT}tests/fixtures/e2e-metrics-reference`;
/** The embedded E2E subset (300 train + 50 dev rows). */
export const E2E_SMALL = `${ROOT}data/e2e-small`;
