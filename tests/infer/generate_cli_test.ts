/** `deno task generate` as a user runs it: help, the default story, a prefix file, bad input. */
import { assert, assertEquals } from "../_assert.ts";
import { GPT2_TINY, GPT2_TOK, readCases, ROOT, STORIES } from "../_fixtures.ts";

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
  for (
    const flag of [
      "--model",
      "--bundle",
      "--prefix-kv",
      "--prompt",
      "--max-new-tokens",
      "--ep",
      "--temperature",
      "--top-k",
      "--top-p",
      "--seed",
      "--num-beams",
      "--length-penalty",
      "--stop",
      "--wasm-threads",
      "--draft-tokens",
    ]
  ) {
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
  const cases: [string[], string, number][] = [
    [["--bogus"], "INVALID_INPUT", 2],
    [["--max-new-tokens", "x"], "INVALID_INPUT", 2],
    [["--ep", "cuda"], "INVALID_INPUT", 2],
    [["--prefix-kv", "/nonexistent.safetensors"], "FILE_NOT_FOUND", 1],
    [["--prefix-kv", `${GPT2_TINY}/prefix-none.safetensors`], "PREFIX_MISMATCH", 1],
    [["--model", "/nonexistent"], "FILE_NOT_FOUND", 1],
  ];
  for (const [args, code, exit] of cases) {
    const r = await cli(...args);
    assertEquals(r.code, exit, args.join(" "));
    assert(r.stderr.includes(`error [${code}]: Cannot`), `${args.join(" ")}: ${r.stderr}`);
  }
});

Deno.test("generate --wasm-threads 2 starts ORT's threaded WASM in Deno and tells the same story", async () => {
  const one = await cli("--max-new-tokens", "40", "--ep", "wasm");
  const two = await cli("--max-new-tokens", "40", "--ep", "wasm", "--wasm-threads", "2");
  assertEquals(two.code, 0, two.stderr);
  assertEquals(two.stdout, one.stdout);
});

Deno.test("generate refuses two prefixes, folders where a file belongs, and a prompt it cannot encode", async () => {
  const dir = await Deno.makeTempDir();
  const cases: [string[], string, string][] = [
    [
      ["--bundle", "a.prefix.zip", "--prefix-kv", "b.safetensors"],
      "INVALID_INPUT",
      "--bundle and --prefix-kv both given",
    ],
    [["--prefix-kv", dir], "FILE_NOT_FOUND", "it is a folder"],
    [["--bundle", dir], "FILE_NOT_FOUND", "it is a folder without adapter_config.json"],
    [["--model", `${GPT2_TINY}/model`, "--prompt", "hello"], "TOKENIZER_MISSING", "--prompt"],
    [["--max-new-tokens=-1"], "INVALID_INPUT", "--max-new-tokens: -1 is less than 0"],
    [["--num-beams", "0"], "INVALID_INPUT", "--num-beams: 0 is less than 1"],
    [["--temperature=-0.5"], "INVALID_INPUT", "--temperature: -0.5 is less than 0"],
    // Checked before the model loads: the missing model is never reached.
    [["--model", "/nonexistent", "--top-k=-2"], "INVALID_INPUT", "--top-k: -2 is less than 0"],
  ];
  for (const [args, code, text] of cases) {
    const r = await cli("--ep", "wasm", "--max-new-tokens", "2", ...args);
    // Usage errors (a flag or value that does not parse) exit 2, other failures 1.
    const usage = r.stderr.includes(`error [${code}]: Cannot parse`);
    assertEquals(r.code, usage ? 2 : 1, `${args.join(" ")}: ${r.stderr}`);
    const lines = r.stderr.trim().split("\n");
    assertEquals(lines.length, 1, `${args.join(" ")}: ${r.stderr}`);
    assert(lines[0].startsWith(`error [${code}]: Cannot`), `${args.join(" ")}: ${r.stderr}`);
    assert(lines[0].includes(text), `${args.join(" ")}: ${r.stderr}`);
  }
  await Deno.remove(dir);
});

Deno.test("generate says when it stopped early because the context is full", async () => {
  // gpt2-text has 128 positions; a 122-token prompt ("word" is 2 tokens) leaves room for 6 of 20.
  const r = await cli(
    "--model",
    GPT2_TOK,
    "--prompt",
    "word ".repeat(61).trim(),
    "--max-new-tokens",
    "20",
    "--ep",
    "wasm",
  );
  assertEquals(r.code, 0, r.stderr);
  assert(r.stderr.includes("finish: length (the context of 128 positions is full)"), r.stderr);
});

Deno.test("generate reports the draft tokens it kept, and --draft-tokens 0 prints the same text", async () => {
  // gpt2-text's greedy text loops, so its drafts are kept.
  const run = (drafts: string) =>
    cli(
      "--model",
      GPT2_TOK,
      "--prompt",
      "Hello world",
      "--max-new-tokens",
      "60",
      "--ep",
      "wasm",
      "--draft-tokens",
      drafts,
    );
  const on = await run("4"), off = await run("0");
  assertEquals([on.code, off.code], [0, 0], on.stderr + off.stderr);
  const m = on.stderr.match(/drafts: (\d+) of (\d+) kept/);
  assert(m !== null, on.stderr);
  const [kept, checked] = [Number(m[1]), Number(m[2])];
  assert(kept > 0 && kept <= checked, on.stderr);
  assert(!off.stderr.includes("drafts:"), off.stderr);
  assertEquals(on.stdout, off.stdout);
});
