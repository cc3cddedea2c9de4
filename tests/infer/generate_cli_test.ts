/** `deno task generate` as a user runs it: help, the default story, a prefix file, bad input. */
import { assert, assertEquals } from "../_assert.ts";
import { GPT2_TINY, readCases, ROOT, STORIES } from "../_fixtures.ts";

async function cli(...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}src/cli/generate.ts`, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("generate --help lists every option", async () => {
  const r = await cli("--help");
  assertEquals(r.code, 0);
  for (const flag of ["--model", "--prefix-kv", "--prompt", "--max-new-tokens", "--ep", "--stop"]) {
    assert(r.stdout.includes(flag), flag);
  }
});

Deno.test("generate with no model tells llama2.c's greedy story from the embedded model", async () => {
  const r = await cli("--max-new-tokens", "30", "--ep", "wasm");
  assertEquals(r.code, 0, r.stderr);
  const expected = await Deno.readTextFile(`${STORIES}/greedy_sample_t0.txt`);
  const text = r.stdout.trimEnd();
  assert(text.length > 50 && expected.startsWith(text), JSON.stringify(text));
  assert(r.stderr.includes("30 tokens"), r.stderr);
});

Deno.test("generate --prefix-kv reads an oracle prefix file and prints ids for a model without a tokenizer", async () => {
  const { cases } = await readCases(GPT2_TINY);
  const c = cases.find((x) => x.greedy)!;
  const r = await cli(
    "--model",
    `${GPT2_TINY}/model`,
    "--prefix-kv",
    `${GPT2_TINY}/${c.file}`,
    "--max-new-tokens",
    "4",
    "--ep",
    "wasm",
  );
  assertEquals(r.code, 0, r.stderr);
  // No tokenizer: ids are printed. The prompt is BOS (0), not the oracle's prompt, so only check shape.
  assertEquals(r.stdout.trim().split(" ").length, 4);
  assert(r.stderr.includes("prefix P=4"), r.stderr);
});

Deno.test("generate refuses unknown flags, bad numbers, a missing prefix file and a wrong-shape prefix", async () => {
  const cases: [string[], string][] = [
    [["--bogus"], "INVALID_INPUT"],
    [["--max-new-tokens", "x"], "INVALID_INPUT"],
    [["--ep", "cuda"], "INVALID_INPUT"],
    [["--prefix-kv", "/nonexistent.safetensors"], "FILE_NOT_FOUND"],
    [["--prefix-kv", `${GPT2_TINY}/prefix-none.safetensors`], "PREFIX_MISMATCH"],
    [["--model", "/nonexistent"], "FILE_NOT_FOUND"],
  ];
  for (const [args, code] of cases) {
    const r = await cli(...args);
    assertEquals(r.code, 1, args.join(" "));
    assert(r.stderr.includes(`error [${code}]: Cannot`), `${args.join(" ")}: ${r.stderr}`);
  }
});

Deno.test("generate --wasm-threads 2 starts ORT's threaded WASM in Deno and tells the same story", async () => {
  const one = await cli("--max-new-tokens", "40", "--ep", "wasm");
  const two = await cli("--max-new-tokens", "40", "--ep", "wasm", "--wasm-threads", "2");
  assertEquals(two.code, 0, two.stderr);
  assertEquals(two.stdout, one.stdout);
});
