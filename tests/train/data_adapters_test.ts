import { PrefixEdgeError } from "../../src/errors/mod.ts";
import {
  guessDataFormat,
  linearizeE2eMr,
  loadExamples,
  parseE2eCsv,
  parseGlueTsv,
  parseJsonl,
  readJsonl,
} from "../../src/train/mod.ts";
import { assert, assertEquals, assertRejects, assertThrows } from "../_assert.ts";
import { FIXTURES } from "../_fixtures.ts";

const E2E = `${FIXTURES}data/e2e`;
const GLUE = `${FIXTURES}data/glue`;

/** The first `n` lines of a data file (the adapters are tested on small slices). */
async function head(path: string, n: number): Promise<string> {
  return (await Deno.readTextFile(path)).split("\n").slice(0, n).join("\n") + "\n";
}

function isDataInvalid(e: unknown): asserts e is PrefixEdgeError {
  assert(e instanceof PrefixEdgeError && e.code === "DATA_INVALID", String(e));
}

Deno.test("parseJsonl() reads input/output objects and skips blank lines", () => {
  const ex = parseJsonl(
    '{"input":"a","output":"b","id":3}\n\n{"input":"c","output":""}\n',
    "x.jsonl",
  );
  assertEquals(ex, [{ input: "a", output: "b" }, { input: "c", output: "" }]);
});

Deno.test("a malformed JSONL line is DATA_INVALID naming the file and the line", async () => {
  const e1 = assertThrows(() =>
    parseJsonl('{"input":"a","output":"b"}\n{"input": oops}\n', "d.jsonl")
  );
  isDataInvalid(e1);
  assert(
    e1.message.includes("d.jsonl line 2") && e1.message.includes("not valid JSON"),
    e1.message,
  );
  const e2 = assertThrows(() => parseJsonl('\n\n{"input":"a"}\n', "d.jsonl"));
  isDataInvalid(e2);
  assert(
    e2.message.includes("d.jsonl line 3") && e2.message.includes('"output" is missing'),
    e2.message,
  );
  const e3 = assertThrows(() => parseJsonl('["a","b"]\n', "d.jsonl"));
  isDataInvalid(e3);
  const e4 = assertThrows(() => parseJsonl('{"input":1,"output":"b"}\n', "d.jsonl"));
  isDataInvalid(e4);
  assert(e4.message.includes('"input" is a number'), e4.message);

  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/bad.jsonl`, '{"input":"a","output":"b"}\n{broken\n');
  await assertRejects(() => readJsonl(`${dir}/bad.jsonl`), (e) => {
    isDataInvalid(e);
    assert(e.message.includes(`${dir}/bad.jsonl line 2`), e.message);
  });
  await assertRejects(() => readJsonl(`${dir}/missing.jsonl`), (e) => {
    assert(e instanceof PrefixEdgeError && e.code === "FILE_NOT_FOUND", String(e));
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("linearizeE2eMr() writes meaning representations as Li & Liang's files do", async () => {
  // The first 40 rows of devset.csv against the first 40 lines of their src1_valid.txt.
  const rows = parseE2eCsv(await head(`${E2E}/devset.csv`, 41), "devset.csv");
  const theirs = (await head(`${E2E}/prefixtuning_format/src1_valid.txt`, 40)).split("\n")
    .slice(0, 40).map((l) => l.split("||")[0].trim());
  assertEquals(rows.length, 40);
  assertEquals(rows.map((r) => r.input), theirs);
  assertEquals(
    linearizeE2eMr(
      "name[The Vaults], eatType[pub], priceRange[more than £30], familyFriendly[yes]",
    ),
    "name : The Vaults | Type : pub | price : more than £ 30 | family friendly : yes",
  );
  assertThrows(() => linearizeE2eMr("name The Vaults"), isDataInvalid);
});

Deno.test("the E2E adapter keeps references as text and reports bad rows by line", async () => {
  const ex = parseE2eCsv(await head(`${E2E}/trainset.csv`, 4), "trainset.csv");
  assertEquals(ex.length, 3);
  assertEquals(
    ex[0].output,
    "The Vaults pub near Café Adriatic has a 5 star rating. Prices start at £30.",
  );
  assert(ex[1].output.startsWith("Close to Café Brazil, The Cambridge Blue pub"));
  const e = assertThrows(() => parseE2eCsv('mr,ref\n"name[A]",ok\n"name[B],broken\n', "t.csv"));
  isDataInvalid(e);
  assert(e.message.includes("t.csv line 3"), e.message);
  assertThrows(() => parseE2eCsv("a,b\n1,2\n", "t.csv"), isDataInvalid);
});

Deno.test("GLUE adapters verbalize each task's labels", async () => {
  const sst2 = parseGlueTsv(await head(`${GLUE}/SST-2/dev.tsv`, 3), "sst2", "sst2");
  assertEquals(sst2, [
    {
      input: "sentence: it 's a charming and often affecting journey . sentiment:",
      output: "positive",
    },
    { input: "sentence: unflinchingly bleak and desperate sentiment:", output: "negative" },
  ]);
  const cola = parseGlueTsv(await head(`${GLUE}/CoLA/dev.tsv`, 1), "cola", "cola");
  assertEquals(cola, [{
    input: "sentence: The sailors rode the breeze clear of the rocks. grammatical:",
    output: "yes",
  }]);
  const mrpc = parseGlueTsv(await head(`${GLUE}/MRPC/dev.tsv`, 3), "mrpc", "mrpc");
  assertEquals(mrpc.map((e) => e.output), ["yes", "no"]);
  assert(mrpc[0].input.startsWith("sentence1: He said the foodservice pie business"));
  assert(mrpc[0].input.endsWith("paraphrase:"));
  const rte = parseGlueTsv(await head(`${GLUE}/RTE/dev.tsv`, 3), "rte", "rte");
  assertEquals(rte.map((e) => e.output), ["no", "yes"]);
  assert(rte[0].input.startsWith("premise: Dana Reeve") && rte[0].input.endsWith("entailment:"));
  const qnli = parseGlueTsv(await head(`${GLUE}/QNLI/dev.tsv`, 3), "qnli", "qnli");
  assertEquals(qnli.map((e) => e.output), ["yes", "no"]);
  const stsb = parseGlueTsv(await head(`${GLUE}/STS-B/dev.tsv`, 3), "stsb", "stsb");
  assertEquals(stsb.map((e) => e.output), ["5.0", "4.8"]);
  assertEquals(
    stsb[0].input,
    "sentence1: A man with a hard hat is dancing. sentence2: A man wearing a hard hat is dancing. similarity:",
  );
});

Deno.test("GLUE adapters refuse unlabeled or short rows with the line number", async () => {
  const e = assertThrows(() => parseGlueTsv(head_unlabeled, "sst2", "test.tsv"));
  isDataInvalid(e);
  assert(e.message.includes("test.tsv line 2") && e.message.includes("unlabeled"), e.message);
  const short = assertThrows(() =>
    parseGlueTsv("index\ts1\ts2\tlabel\n0\tonly one\n", "rte", "r.tsv")
  );
  isDataInvalid(short);
  assert(short.message.includes("r.tsv line 2"), short.message);
  await assertRejects(() => loadExamples(`${GLUE}/SST-2/test.tsv`), isDataInvalid);
});
const head_unlabeled = "index\tsentence\n0\tuneasy mishmash of styles and genres .\n";

Deno.test("loadExamples() picks the adapter from the path or the given format", async () => {
  assertEquals(guessDataFormat("a/b/train.jsonl"), "jsonl");
  assertEquals(guessDataFormat("data/e2e-small/train.csv"), "e2e");
  assertEquals(guessDataFormat(`${GLUE}/STS-B/dev.tsv`), "stsb");
  assertThrows(() => guessDataFormat("notes.txt"), isDataInvalid);
  assertThrows(() => guessDataFormat("somewhere/dev.tsv"), isDataInvalid);
  const e2e = await loadExamples("data/e2e-small/dev.csv");
  assertEquals([e2e.format, e2e.separator, e2e.examples.length], ["e2e", " ||", 50]);
  const rte = await loadExamples(`${GLUE}/RTE/dev.tsv`);
  assertEquals([rte.format, rte.separator, rte.examples.length], ["rte", "", 277]);
  await assertRejects(() => loadExamples("x.jsonl", "xml" as never), (e) => {
    assert(e instanceof PrefixEdgeError && e.code === "INVALID_INPUT", String(e));
  });
});
