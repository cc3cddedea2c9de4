/** `deno task train`: help, and a clear error (code + message) for each kind of bad input. */
import { join } from "node:path";
import { assert, assertEquals } from "../_assert.ts";
import { GPT2_TINY, GPT2_TOK, ROOT, STORIES } from "../_fixtures.ts";

const CLI = join(ROOT, "src/cli/train.ts");

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("train --help lists every flag and exits 0", async () => {
  const r = await cli("--help");
  assertEquals(r.code, 0);
  for (
    const flag of [
      "--model",
      "--data",
      "--eval",
      "--prefix-len",
      "--reparam",
      "--gate",
      "--no-gate",
      "--mid-dim",
      "--lr",
      "--epochs",
      "--steps",
      "--batch",
      "--max-len",
      "--seed",
      "--out",
      "--warmup-steps",
      "--grad-accum",
      "--eval-every",
      "--log-every",
      "--max-grad-norm",
      "--weight-decay",
      "--resume",
      "--task-name",
    ]
  ) assert(r.stdout.includes(`${flag} `) || r.stdout.includes(`${flag}\n`), `help lacks ${flag}`);
});

Deno.test("train without --model explains what it needs and shows an example", async () => {
  const r = await cli();
  assertEquals(r.code, 1);
  assert(r.stderr.includes("Cannot train without --model"), r.stderr);
  assert(r.stderr.includes("--model ../shared/fixtures/gpt2-tok"), r.stderr);
});

Deno.test("train refuses bad input with a code and a message", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(join(dir, "bad.jsonl"), '{"input":"a","output":"b"}\n{"input":"a"\n');
  const cases: [string[], string, string][] = [
    [["--bogus"], "INVALID_INPUT", "Cannot parse arguments"],
    [["--model", GPT2_TOK, "--lr", "fast"], "INVALID_INPUT", '--lr: "fast" is not a number'],
    [["--model", GPT2_TOK, "--reparam", "lora"], "INVALID_INPUT", "--reparam"],
    [["--model", `${GPT2_TINY}/model`], "TOKENIZER_MISSING", "no tokenizer.json"],
    [["--model", STORIES], "UNSUPPORTED_MODEL", "llama"],
    [["--model", GPT2_TOK, "--prefix-len", "256"], "PREFIX_MISMATCH", "256 positions"],
    [
      ["--model", GPT2_TOK, "--prefix-len", "200", "--max-len", "100"],
      "CONTEXT_OVERFLOW",
      "--max-len 56",
    ],
    [
      ["--model", GPT2_TOK, "--data", join(dir, "bad.jsonl")],
      "DATA_INVALID",
      `${join(dir, "bad.jsonl")} line 2`,
    ],
    [["--model", GPT2_TOK, "--data", join(dir, "none.jsonl")], "FILE_NOT_FOUND", "does not exist"],
  ];
  for (const [args, code, text] of cases) {
    const r = await cli(...args);
    assertEquals(r.code, 1, `${args.join(" ")}: exit ${r.code}\n${r.stderr}`);
    assert(r.stderr.includes(`error [${code}]`), `${args.join(" ")}: ${r.stderr}`);
    assert(r.stderr.includes(text), `${args.join(" ")}: ${r.stderr}`);
  }
  await Deno.remove(dir, { recursive: true });
});
