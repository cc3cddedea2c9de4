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
      "--patience",
      "--eval-limit",
      "--log-every",
      "--max-grad-norm",
      "--weight-decay",
      "--resume",
      "--task-name",
      "--format",
      "--checkpoint-every",
      "--max-bad-steps",
      "--dtype",
    ]
  ) assert(r.stdout.includes(`${flag} `) || r.stdout.includes(`${flag}\n`), `help lacks ${flag}`);
});

Deno.test("train refuses bad input with a code and a message", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(join(dir, "bad.jsonl"), '{"input":"a","output":"b"}\n{"input":"a"\n');
  // A Llama whose config asks for maths the trainer does not implement.
  const scaled = join(dir, "scaled-llama");
  await Deno.mkdir(scaled);
  for (const f of ["model.safetensors", "tokenizer.json", "tokenizer_config.json"]) {
    await Deno.copyFile(`${STORIES}/${f}`, join(scaled, f));
  }
  const config = JSON.parse(await Deno.readTextFile(`${STORIES}/config.json`));
  config.rope_scaling = { rope_type: "yarn", factor: 4 };
  await Deno.writeTextFile(join(scaled, "config.json"), JSON.stringify(config));
  const cases: [string[], string, string][] = [
    [["--bogus"], "INVALID_INPUT", "Cannot parse arguments"],
    [["--model", GPT2_TOK, "--lr", "fast"], "INVALID_INPUT", '--lr: "fast" is not a number'],
    [["--model", GPT2_TOK, "--reparam", "lora"], "INVALID_INPUT", "--reparam"],
    [["--model", `${GPT2_TINY}/model`], "TOKENIZER_MISSING", "no tokenizer.json"],
    [["--model", scaled], "UNSUPPORTED_MODEL", 'config field "rope_scaling"'],
    [["--model", GPT2_TOK, "--prefix-len", "128"], "PREFIX_MISMATCH", "128 positions"],
    [
      ["--model", GPT2_TOK, "--prefix-len", "100", "--max-len", "100"],
      "CONTEXT_OVERFLOW",
      "--max-len 28",
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
    // Usage errors (a flag or value that does not parse) exit 2, other failures 1.
    const usage = r.stderr.includes(`error [${code}]: Cannot parse`);
    assertEquals(r.code, usage ? 2 : 1, `${args.join(" ")}: exit ${r.code}\n${r.stderr}`);
    assert(r.stderr.includes(`error [${code}]`), `${args.join(" ")}: ${r.stderr}`);
    assert(r.stderr.includes(text), `${args.join(" ")}: ${r.stderr}`);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("train errors name the flag, fit on one line, and --dtype takes any case", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(join(dir, "one.jsonl"), '{"input":"a","output":"b"}\n');
  const cases: [string[], string, string][] = [
    [["--model", GPT2_TOK, "--prefix-len", "0"], "INVALID_INPUT", "--prefix-len must be"],
    [["--model", GPT2_TOK, "--batch", "0"], "INVALID_INPUT", "--batch must be"],
    [["--model", GPT2_TOK, "--log-every", "0"], "INVALID_INPUT", "--log-every must be"],
    [["--model", GPT2_TOK, "--lr", "0"], "INVALID_INPUT", "--lr must be"],
    [["--model", GPT2_TOK, "--steps", "-1"], "INVALID_INPUT", "write it as --steps=VALUE"],
    // The dtype is accepted (lower case, as `bundle convert` takes it); the next check fails.
    [["--model", GPT2_TOK, "--dtype", "f16", "--mid-dim", "0"], "INVALID_INPUT", "--mid-dim"],
    [["--model", GPT2_TOK, "--dtype", "q4"], "INVALID_INPUT", '--dtype: "q4"'],
    [["--model", GPT2_TOK, "--data", dir], "FILE_NOT_FOUND", "it is a folder"],
    // Checked before the model loads (the model folder does not exist).
    [["--model", "/nonexistent", "--task-name", "My Task"], "INVALID_INPUT", '"My Task"'],
    [["--model", "/nonexistent", "--task-name", "../up"], "INVALID_INPUT", "<task>.prefix.zip"],
    [["--model", "/nonexistent", "--task-name", "a/b"], "INVALID_INPUT", "task name"],
    [
      ["--model", GPT2_TOK, "--data", join(dir, "one.jsonl"), "--eval", join(dir, "no.jsonl")],
      "FILE_NOT_FOUND",
      `Cannot read JSONL data: ${join(dir, "no.jsonl")} does not exist`,
    ],
  ];
  for (const [args, code, text] of cases) {
    const r = await cli(...args);
    // Usage errors (a flag or value that does not parse) exit 2, other failures 1.
    const usage = r.stderr.includes(`error [${code}]: Cannot parse`);
    assertEquals(r.code, usage ? 2 : 1, `${args.join(" ")}: exit ${r.code}\n${r.stderr}`);
    const lines = r.stderr.trim().split("\n");
    assertEquals(lines.length, 1, `${args.join(" ")}: ${r.stderr}`);
    assert(lines[0].startsWith(`error [${code}]: Cannot`), `${args.join(" ")}: ${r.stderr}`);
    assert(lines[0].includes(text), `${args.join(" ")}: ${r.stderr}`);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("train stopped with Ctrl-C (SIGINT) says how to resume and exits 130", async () => {
  const dir = await Deno.makeTempDir();
  const out = join(dir, "run");
  await Deno.writeTextFile(
    join(dir, "d.jsonl"),
    '{"input":"name : A","output":"A is a pub."}\n{"input":"name : B","output":"B is a cafe."}\n',
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      CLI,
      "--model",
      GPT2_TOK,
      "--data",
      join(dir, "d.jsonl"),
      "--steps",
      "1000",
      "--batch",
      "2",
      "--max-len",
      "32",
      "--prefix-len",
      "2",
      "--mid-dim",
      "8",
      "--checkpoint-every",
      "1",
      "--out",
      out,
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const checkpoint = join(out, "checkpoint", "checkpoint.json");
  for (let i = 0; i < 1200; i++) {
    if (await Deno.stat(checkpoint).then(() => true, () => false)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill("SIGINT");
  const r = await child.output();
  const stderr = new TextDecoder().decode(r.stderr);
  assertEquals(r.code, 130, stderr);
  const step = JSON.parse(await Deno.readTextFile(checkpoint)).step;
  assert(step >= 1 && step < 1000, `checkpoint step ${step}`);
  const last = stderr.trim().split("\n").at(-1)!;
  assert(last.startsWith("interrupted; the last checkpoint is step"), stderr);
  assert(last.includes(`To continue, run: deno task train --resume ${out}`), stderr);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("train prints where every output went, in words that fit the run", async () => {
  const dir = await Deno.makeTempDir();
  const out = join(dir, "run");
  // The task name comes from the file name, made fit for a bundle file name.
  const data = join(dir, "_One Example..v2.jsonl");
  await Deno.writeTextFile(data, '{"input":"name : A","output":"A pub."}\n');
  const r = await cli(
    "--model",
    GPT2_TOK,
    "--data",
    data,
    "--steps",
    "1",
    "--batch",
    "1",
    "--max-len",
    "32",
    "--prefix-len",
    "2",
    "--reparam",
    "none",
    "--no-gate",
    "--dtype",
    "i8",
    "--out",
    out,
  );
  assertEquals(r.code, 0, r.stderr);
  assert(r.stderr.includes("(jsonl): 1 example, "), r.stderr);
  assert(!r.stderr.includes("mid="), "reparam none has no MLP width: " + r.stderr);
  assert(r.stdout.startsWith("done: 1 step (1.00 epochs)"), r.stdout);
  assert(r.stdout.includes("  dev loss: none (no --eval data)"), r.stdout);
  // Every path the command prints exists.
  const paths = [...r.stdout.matchAll(/^ {2}(?:bundle|metrics|plots|checkpoint): (.+)$/gm)]
    .flatMap((m) => m[1].split(", "));
  assertEquals(paths, [
    join(out, "one-example.v2.prefix.zip"),
    join(out, "metrics.jsonl"),
    join(out, "loss.svg"),
    join(out, "checkpoint"),
  ]);
  for (const p of paths) await Deno.stat(p);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a second run never destroys the first: the default folder moves on, an explicit one is refused", async () => {
  const dir = await Deno.makeTempDir();
  const data = join(dir, "greet.jsonl");
  await Deno.writeTextFile(data, '{"input":"name : A","output":"A pub."}\n');
  const quick = ["--model", GPT2_TOK, "--data", data, "--steps", "1", "--batch", "1"];
  const inDir = (...args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", CLI, ...quick, ...args],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output().then((o) => ({
      code: o.code,
      stderr: new TextDecoder().decode(o.stderr),
    }));
  try {
    const first = await inDir("--max-len", "32");
    assertEquals(first.code, 0, first.stderr);
    const bundle = join(dir, "runs/greet/greet.prefix.zip");
    const before = await Deno.readFile(bundle);

    // The default folder holds a run: the new one goes beside it, and says where.
    const second = await inDir("--max-len", "32", "--prefix-len", "3");
    assertEquals(second.code, 0, second.stderr);
    assert(second.stderr.includes("runs/greet holds an earlier run"), second.stderr);
    assert((await Deno.stat(join(dir, "runs/greet-2/greet.prefix.zip"))).isFile);
    assertEquals(await Deno.readFile(bundle), before, "the first run's bundle is untouched");

    // An explicit --out holding a run is refused (a usage error), and nothing is written.
    const refused = await inDir("--out", "runs/greet", "--prefix-len", "4");
    assertEquals(refused.code, 2, refused.stderr);
    assert(refused.stderr.includes("--overwrite"), refused.stderr);
    assertEquals(await Deno.readFile(bundle), before);

    // --overwrite replaces it.
    const replaced = await inDir("--out", "runs/greet", "--prefix-len", "4", "--overwrite");
    assertEquals(replaced.code, 0, replaced.stderr);
    const args = JSON.parse(await Deno.readTextFile(join(dir, "runs/greet/train-args.json")));
    assertEquals(args.args["prefix-len"], "4");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--resume of a folder without a checkpoint fails before loading anything", async () => {
  const r = await cli("--resume", "/tmp/prefix-edge-no-such-run");
  assertEquals(r.code, 1);
  assert(r.stderr.startsWith("error [FILE_NOT_FOUND]: Cannot resume"), r.stderr);
  assert(!r.stderr.includes("->") && !r.stderr.includes("data:"), r.stderr);
});
