/**
 * A small run of the seeded bundle fuzzer (tests/bundle/_fuzz.ts): 300 mutations of a valid
 * bundle must each give a typed error or a valid bundle, never another exception or a hang.
 * bench/bundle_fuzz_bench.ts runs the same fuzzer at scale.
 */
import { assert } from "../_assert.ts";
import { fuzzBundles } from "./_fuzz.ts";

const MUTATIONS = 300;

Deno.test(`${MUTATIONS} seeded mutations of a valid bundle give a typed error or a valid bundle`, async () => {
  const { outcomes, elapsedMs } = await fuzzBundles({ mutations: MUTATIONS, seed: 0x5eed });
  console.log(`fuzz: ${MUTATIONS} mutations in ${elapsedMs.toFixed(0)} ms:`, outcomes);
  // The fuzzer must reach more than one kind of refusal to be worth its time.
  assert(Object.keys(outcomes).length >= 4, JSON.stringify(outcomes));
});
