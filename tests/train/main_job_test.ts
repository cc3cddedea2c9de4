/**
 * The README's main job as a new user runs it: `deno task train` with no model and no data
 * trains the embedded stories260K on data/pet-stories until its prefix tells held-out records'
 * stories exactly; `deno task eval` confirms it on records that are in neither data file; and
 * the README's serve example, run against that bundle, returns the record's story both through
 * a completion with no sampling parameters and through the `openai` client's chat call.
 */
import OpenAI from "openai";
import { checkSlots } from "../../src/eval/mod.ts";
import { readSlotValues } from "../../src/train/mod.ts";
import { assert, assertEquals } from "../_assert.ts";
import { ROOT } from "../_fixtures.ts";
import { withServeCli } from "../serve/_serve_cli.ts";

const dec = new TextDecoder();

/** The JSON body of the README's `curl` to /v1/completions, as the README writes it. */
async function readmeCompletionBody(): Promise<Record<string, unknown>> {
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  const m = /curl -s localhost:8000\/v1\/completions[^\n]*\\\n\s*-d '(\{[^']*"pet-stories"[^']*\})'/
    .exec(readme);
  assert(m, "the README shows a completion request to pet-stories");
  return JSON.parse(m[1]);
}

Deno.test({
  name:
    "the main job learns its task: held-out records told exactly, and the README's serve example returns their stories",
  sanitizeResources: false,
  async fn() {
    const tmp = await Deno.makeTempDir();
    const out = `${tmp}/runs/pet-stories`;
    const slots = await readSlotValues(`${ROOT}data/pet-stories/slots.json`);
    const told = (input: string, text: string) =>
      Object.values(checkSlots(input, text, slots)).every((s) => s.named && !s.wrong);
    const run = (args: string[]) =>
      new Deno.Command(Deno.execPath(), { args, cwd: ROOT, stdout: "piped", stderr: "piped" })
        .output();
    try {
      const train = await run(["task", "train", "--samples", "1", "--out", out]);
      const stdout = dec.decode(train.stdout), stderr = dec.decode(train.stderr);
      assertEquals(train.code, 0, stderr + stdout);
      assert(stderr.includes("stories260K"), `the default model is named:\n${stderr}`);
      assert(/dev exact: base model 0\.0+, .* -> best (0\.9[5-9]|1\.0)/.test(stdout), stdout);
      assert(/input: +name: .*\|\|\nbefore: .+\nafter: +.+/.test(stdout), stdout);
      const summary = JSON.parse(await Deno.readTextFile(`${out}/summary.json`));
      assert(summary.bestMetric >= 0.95 && summary.ok, JSON.stringify(summary));
      for (const f of ["pet-stories.prefix.zip", "metrics.jsonl", "metric.svg", "gates.svg"]) {
        assert((await Deno.stat(`${out}/${f}`)).isFile, `${f} written`);
      }

      // Records in neither data file, scored by the eval command.
      const held = `${tmp}/held-out.jsonl`;
      const gen = await run([
        "run",
        "--allow-write",
        "data/pet-stories/generate.ts",
        "--held-out",
        "100",
        "--out",
        held,
      ]);
      assertEquals(gen.code, 0, dec.decode(gen.stderr));
      const ev = await run([
        "task",
        "eval",
        "--data",
        held,
        "--slots",
        "data/pet-stories/slots.json",
        "--bundle",
        `${out}/pet-stories.prefix.zip`,
        "--num-beams",
        "1",
        "--out",
        `${tmp}/eval`,
      ]);
      assertEquals(ev.code, 0, dec.decode(ev.stderr));
      const scores = JSON.parse(await Deno.readTextFile(`${tmp}/eval/scores.json`));
      const exact = scores.scores?.exact ?? scores.exact;
      assert(exact >= 0.95, `held-out records told exactly: ${exact}`);

      await withServeCli(["--bundles", `${tmp}/runs`], async (url) => {
        // The README's request, exactly: no sampling parameters.
        const body = await readmeCompletionBody();
        const res = await fetch(`${url}/v1/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        });
        const completion = await res.json();
        assertEquals(res.status, 200, JSON.stringify(completion));
        const record = String(body.prompt).replace(/\s*\|\|\s*$/, "");
        const text = completion.choices[0].text;
        assert(told(record, text), `the completion tells the record's story: ${text}`);
        assertEquals(completion.choices[0].finish_reason, "stop", "the story ends by itself");

        // The openai client's chat call, with only a user message holding a record.
        const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused" });
        const input = "name: Lily | animal: duck | place: pond | thing: kite";
        const chat = await client.chat.completions.create({
          model: "pet-stories",
          messages: [{ role: "user", content: input }],
        });
        const story = chat.choices[0].message.content ?? "";
        assert(told(input, story), `the chat answer tells the record's story: ${story}`);
      });
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test("deno task train --resume DIR alone continues a run with its recorded model, data and options", async () => {
  const tmp = await Deno.makeTempDir();
  const out = `${tmp}/run`;
  const train = (args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["task", "train", "--samples", "0", ...args],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
  try {
    const first = await train([
      "--steps",
      "4",
      "--prefix-len",
      "3",
      "--checkpoint-every",
      "2",
      "--out",
      out,
    ]);
    // Four steps do not learn the task: the run says so and exits 1, but its checkpoint stays.
    assertEquals(first.code, 1, dec.decode(first.stderr));
    assert(dec.decode(first.stderr).includes("error [TRAINING_FAILED]"), dec.decode(first.stderr));
    // Without the recorded arguments this would start the main job's default steps.
    const state = JSON.parse(await Deno.readTextFile(`${out}/checkpoint/checkpoint.json`));
    assertEquals(state.step, 4);
    const again = await train(["--resume", out]);
    const stderr = dec.decode(again.stderr), stdout = dec.decode(again.stdout);
    assertEquals(again.code, 1, stderr);
    assert(stderr.includes("P=3"), `the recorded --prefix-len is reused:\n${stderr}`);
    assert(stderr.includes("steps=4"), `the recorded --steps is reused:\n${stderr}`);
    assert(stdout.includes("resumed from step 4"), stdout);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("a main job whose rate is far too high says so, exits 1, and leaves a bundle no worse than where it started", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const out = `${tmp}/run`;
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["task", "train", "--lr", "0.1", "--steps", "100", "--samples", "0", "--out", out],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = dec.decode(r.stderr);
    assertEquals(r.code, 1, stderr);
    assert(stderr.includes("warning: the dev loss rose from"), stderr);
    assert(stderr.includes("error [TRAINING_FAILED]"), stderr);
    const s = JSON.parse(await Deno.readTextFile(`${out}/summary.json`));
    assertEquals(s.ok, false);
    assert(s.devLoss > s.initialDevLoss, `the rate must hurt for this test to mean anything`);
    // The bundle holds the best evaluated prefix: no worse than the untrained one.
    assert(s.bestMetric >= s.initialScores.exact, JSON.stringify(s));
    assert(s.bestDevLoss <= s.initialDevLoss, JSON.stringify(s));
    assert((await Deno.stat(`${out}/pet-stories.prefix.zip`)).isFile);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
