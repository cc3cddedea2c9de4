/**
 * Drafts from the prompt (prompt lookup) at batch 1: what they save on a real model's text, and
 * what they would save where decoding is bound by reading the weights.
 *
 * 1. **stories260K, measured.** The engine (native, `--threads` intra-op threads) decodes
 *    `--tokens` greedy tokens from each of eight story openings alone, with drafts off
 *    (`draftTokens: 0`) and on (the default), alternating over `--rounds` rounds: tokens/s, decode
 *    steps, draft tokens fed and accepted. Both must give the same tokens (checked).
 * 2. **GPT-2-small shape, a forward pass's cost by tokens fed.** One batch-1 forward pass over a
 *    70-column cache feeding 1 to 9 tokens (random weights: the cost does not depend on them;
 *    median of 15).
 * 3. **GPT-2-small shape, modeled.** The greedy stories of part 1 replayed through the engine's
 *    own `draftFromContext` at each draft length, every forward pass costing what part 2
 *    measured for its tokens (a rejected draft also pays for the cache copy it needs): the
 *    speedup over one token a pass, over all stories and for the story it helps least. A random
 *    GPT-2 writes no text worth drafting from (its greedy text loops on one token), hence the
 *    replay.
 *
 * Usage: deno run -A bench/draft_bench.ts [--tokens 200] [--rounds 5] [--threads 2]
 */
import { parseArgs } from "node:util";
import { InferenceEngine } from "../src/infer/mod.ts";
import { BatchLayout } from "../src/infer/batch_layout.ts";
import { DecoderSession } from "../src/infer/decoder_session.ts";
import { prefixCache } from "../src/infer/kv_cache.ts";
import { loadOrtBackend } from "../src/infer/ort_backend.ts";
import { draftFromContext } from "../src/infer/prompt_lookup.ts";
import { loadModel } from "../src/model/mod.ts";
import { GPT2_SMALL, writeRandomGpt2 } from "../tests/gpu/_random_gpt2.ts";
import { STORIES } from "../tests/_fixtures.ts";
import { exportOnnx } from "../src/onnx/mod.ts";
import { median } from "./_measure.ts";
import { printHelpIfAsked } from "./_help.ts";

printHelpIfAsked(import.meta.url);
const values = parseArgs({
  args: Deno.args,
  options: {
    tokens: { type: "string", default: "200" },
    rounds: { type: "string", default: "5" },
    threads: { type: "string", default: "2" },
  },
}).values;
const TOKENS = Number(values.tokens), ROUNDS = Number(values.rounds);
const THREADS = Number(values.threads);
const OPENINGS = [
  "Once upon a time",
  "Lily and Tom were",
  "The little dog",
  "One day, a girl named Sue",
  "Ben wanted to",
  "Tim had a red",
  "The sun was",
  "Mom said",
];
const CACHE_COLUMNS = 70, MAX_FED = 9;

// 1. stories260K, drafts off and on, alternating.
const stories = await loadModel(STORIES);
type Side = { seconds: number; tokens: number; steps: number; drafted: number; accepted: number };
const sides: Record<"off" | "on", Side[]> = { off: [], on: [] };
const texts: Record<"off" | "on", number[][]> = { off: [], on: [] };
for (let round = 0; round < ROUNDS; round++) {
  for (const side of ["off", "on"] as const) {
    const engine = await InferenceEngine.create(stories, {
      executionProvider: "native",
      nativeThreads: THREADS,
      draftTokens: side === "off" ? 0 : undefined,
    });
    await engine.generate({ prompt: "Hello", maxNewTokens: 8 }).result; // warm-up
    const s: Side = { seconds: 0, tokens: 0, steps: 0, drafted: 0, accepted: 0 };
    texts[side] = [];
    for (const prompt of OPENINGS) {
      const batch = engine.openBatch();
      const t = performance.now();
      const r = await batch.add({ prompt, maxNewTokens: TOKENS, eosTokenIds: [] }).result;
      s.seconds += (performance.now() - t) / 1000;
      s.tokens += r.tokenIds.length;
      s.steps += batch.stats.decodeSteps;
      s.drafted += batch.stats.draftedTokens;
      s.accepted += batch.stats.acceptedDraftTokens;
      texts[side].push(r.tokenIds);
    }
    sides[side].push(s);
    await engine.dispose();
  }
}
if (JSON.stringify(texts.on) !== JSON.stringify(texts.off)) {
  throw new Error("drafts changed the tokens");
}
console.log(
  `\n1. stories260K, native (${THREADS} threads), ${OPENINGS.length} openings x ${TOKENS} greedy tokens, each alone; median of ${ROUNDS} alternating rounds (same tokens both ways)\n`,
);
console.log("| drafts | tokens/s | decode steps | draft tokens fed | accepted |");
console.log("| --- | ---: | ---: | ---: | ---: |");
for (const side of ["off", "on"] as const) {
  const s = sides[side], last = s.at(-1)!;
  console.log(
    `| ${side} | ${
      median(s.map((x) => x.tokens / x.seconds)).toFixed(0)
    } | ${last.steps} | ${last.drafted} | ${last.accepted} |`,
  );
}
const ratios = sides.on.map((on, i) =>
  (on.tokens / on.seconds) / (sides.off[i].tokens / sides.off[i].seconds)
);
console.log(`\non / off per round: ${ratios.map((r) => r.toFixed(2) + "x").join(", ")}`);

// 2. GPT-2-small shape: one batch-1 forward pass feeding n tokens after a cache.
const gpt2Dir = await Deno.makeTempDir({ prefix: "draft-bench-" });
await writeRandomGpt2(gpt2Dir, GPT2_SMALL);
const { onnxPath } = await exportOnnx(gpt2Dir, { out: `${gpt2Dir}/onnx/model.onnx` });
const gpt2 = await loadModel(gpt2Dir);
const backend = await loadOrtBackend("native", { nativeThreads: THREADS });
const session = await DecoderSession.create(
  backend,
  await Deno.readFile(onnxPath),
  gpt2.config,
  onnxPath,
  false,
);
await Deno.remove(gpt2Dir, { recursive: true });
const first = BatchLayout.prefill(
  [0],
  [Array.from({ length: CACHE_COLUMNS }, (_, i) => 100 + i)],
  undefined,
  0,
);
const { cache } = await session.forward({
  ...first.step,
  batch: 1,
  cache: prefixCache(backend, gpt2.config, [null]),
});
const forwardMs: number[] = [];
for (let n = 1; n <= MAX_FED; n++) {
  const times: number[] = [];
  for (let r = 0; r < 15; r++) {
    const t = performance.now();
    await session.forward({
      inputIds: Array.from({ length: n }, (_, i) => 200 + i),
      attentionMask: new Array(CACHE_COLUMNS + n).fill(1),
      positionIds: Array.from({ length: n }, (_, i) => CACHE_COLUMNS + i),
      batch: 1,
      seqLen: n,
      cache,
    });
    times.push(performance.now() - t);
  }
  forwardMs[n] = median(times);
}
const copies: number[] = [];
for (let r = 0; r < 15; r++) {
  const t = performance.now();
  await cache.selectRows(backend, [0], [0, CACHE_COLUMNS - 1]);
  copies.push(performance.now() - t);
}
const copyMs = median(copies);
await session.release();
console.log(
  `\n2. GPT-2-small shape, native (${THREADS} threads): one batch-1 forward pass after ${CACHE_COLUMNS} cached columns, median of 15\n`,
);
console.log("| tokens fed | ms | vs 1 token |");
console.log("| ---: | ---: | ---: |");
for (let n = 1; n <= MAX_FED; n++) {
  console.log(
    `| ${n} | ${forwardMs[n].toFixed(2)} | ${(forwardMs[n] / forwardMs[1]).toFixed(2)}x |`,
  );
}
console.log(`\ncopying the cache to drop rejected columns: ${copyMs.toFixed(2)} ms`);

// 3. The stories replayed through the drafts at GPT-2-small's costs.
const prompts = OPENINGS.map((p) => stories.tokenizer!.encode(p));
console.log(
  "\n3. GPT-2-small shape, modeled: part 1's greedy stories replayed through `draftFromContext`, each pass at part 2's cost\n",
);
console.log(
  "| draft tokens | passes per token | speedup, all stories | speedup, least-helped story |",
);
console.log("| ---: | ---: | ---: | ---: |");
for (const maxDraft of [1, 2, 4, 8]) {
  let plainMs = 0, draftMs = 0, passes = 0, tokens = 0, worst = Infinity;
  texts.off.forEach((out, i) => {
    let done = 1, ms = 0; // the first token comes from the prefill either way
    while (done < out.length) {
      const context = [...prompts[i], ...out.slice(0, done)];
      const draft = draftFromContext(
        context,
        Math.min(maxDraft, out.length - done - 1, MAX_FED - 1),
      );
      let accepted = 0;
      while (accepted < draft.length && draft[accepted] === out[done + accepted]) accepted++;
      ms += forwardMs[1 + draft.length] + (accepted < draft.length ? copyMs : 0);
      passes++;
      done += accepted + 1;
    }
    const plain = (out.length - 1) * forwardMs[1];
    worst = Math.min(worst, plain / ms);
    plainMs += plain;
    draftMs += ms;
    tokens += out.length - 1;
  });
  console.log(
    `| ${maxDraft} | ${(passes / tokens).toFixed(2)} | ${(plainMs / draftMs).toFixed(2)}x | ${
      worst.toFixed(2)
    }x |`,
  );
}
