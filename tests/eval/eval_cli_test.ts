/** `deno task eval` as a user runs it: help, E2E generation, GLUE classification, bad input. */
import { join } from "node:path";
import { assert, assertEquals } from "../_assert.ts";
import { E2E_SMALL, GPT2_TOK } from "../_fixtures.ts";
import { runCliScript } from "./_run_cli.ts";

const cli = (...args: string[]) => runCliScript("eval.ts", ...args);

const readJsonl = async (path: string) =>
  (await Deno.readTextFile(path)).trim().split("\n").map((l) => JSON.parse(l));

Deno.test("eval --help lists every option", async () => {
  const r = await cli("--help");
  assertEquals(r.code, 0);
  for (
    const flag of [
      "--model",
      "--bundle",
      "--data",
      "--task",
      "--num-beams",
      "--limit",
      "--out",
      "--verbalizer",
    ]
  ) assert(r.stdout.includes(flag), flag);
});

Deno.test("eval on E2E generates once per MR and writes generations, scores and a summary", async () => {
  const dir = await Deno.makeTempDir({ prefix: "eval_cli_" });
  try {
    // Two rows share the first MR: one generation for it, scored against both references.
    const lines = (await Deno.readTextFile(`${E2E_SMALL}/dev.csv`)).split("\n");
    const [header, a, b] = lines;
    const mrA = a.slice(0, a.lastIndexOf('",') + 2);
    const data = join(dir, "dev.csv");
    await Deno.writeTextFile(data, [header, a, `${mrA}"A second reference."`, b].join("\n") + "\n");
    const out = join(dir, "out");
    const r = await cli(
      "--model",
      GPT2_TOK,
      "--data",
      data,
      "--task",
      "e2e",
      "--num-beams",
      "2",
      "--max-new-tokens",
      "4",
      "--out",
      out,
    );
    assertEquals(r.code, 0, r.stderr);
    assert(r.stdout.includes("base model"), r.stdout);
    const gens = await readJsonl(join(out, "generations.jsonl"));
    assertEquals(gens.length, 2);
    assertEquals(gens[0].references.length, 2);
    assertEquals(gens[0].references[1], "A second reference.");
    const scores = JSON.parse(await Deno.readTextFile(join(out, "scores.json")));
    assertEquals(Object.keys(scores.scores).sort(), ["bleu", "cider", "nist", "rougeL"]);
    assertEquals(scores.count, 2);
    assertEquals(scores.settings.numBeams, 2);
    assertEquals(scores.bundle, null);
    const summary = await Deno.readTextFile(join(out, "summary.md"));
    assert(summary.includes("| bleu (primary) |"));
    assert(summary.includes("METEOR is not computed"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("eval on SST-2 with the default model: accuracy agrees with the predictions it wrote", async () => {
  const dir = await Deno.makeTempDir({ prefix: "eval_cli_" });
  try {
    await Deno.mkdir(join(dir, "SST-2"));
    const data = join(dir, "SST-2", "dev.tsv");
    await Deno.writeTextFile(
      data,
      "sentence\tlabel\na charming and moving film\t1\na dull , lifeless mess\t0\n" +
        "warm and funny\t1\nthe plot falls apart\t0\nbrave , bold and beautiful\t1\n",
    );
    for (const extra of [[], ["--verbalizer", "1=great", "--verbalizer", "0=bad"]]) {
      const out = join(dir, `out${extra.length}`);
      const r = await cli("--data", data, "--limit", "4", "--out", out, ...extra);
      assertEquals(r.code, 0, r.stderr);
      const gens = await readJsonl(join(out, "generations.jsonl"));
      assertEquals(gens.length, 4);
      const scores = JSON.parse(await Deno.readTextFile(join(out, "scores.json")));
      assertEquals(scores.task, "sst2");
      const hits = gens.filter((g) => g.prediction === g.references[0]).length;
      assertEquals(scores.scores.accuracy, hits / 4);
      for (const g of gens) {
        assertEquals(g.logLikelihoods.length, 2);
        assert(g.logLikelihoods.every((v: number) => Number.isFinite(v) && v < 0));
      }
      const words = extra.length
        ? { "0": "bad", "1": "great" }
        : { "0": "negative", "1": "positive" };
      assertEquals(scores.settings.verbalizers, words);
      assert(gens.every((g) => Object.values(words).includes(g.prediction)));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("eval refuses a bad task, a missing --out and a bad verbalizer in one line", async () => {
  for (
    const [args, code, text] of [
      [["--data", "x.csv", "--task", "wnli", "--out", "o"], "INVALID_INPUT", "wnli"],
      [["--data", "x.csv"], "INVALID_INPUT", "--out"],
      [["--data", "x.csv", "--out", "o", "--verbalizer", "great"], "INVALID_INPUT", "LABEL=WORD"],
      [["--data", "/nonexistent/dev.csv", "--out", "o"], "FILE_NOT_FOUND", "dev.csv"],
    ] as const
  ) {
    const r = await cli(...args);
    assertEquals(r.code, 1, r.stderr);
    assert(r.stderr.startsWith(`error [${code}]`), r.stderr);
    assert(r.stderr.includes(text), r.stderr);
    assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
});
