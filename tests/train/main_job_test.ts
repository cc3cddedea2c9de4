/**
 * The README's main job as a new user runs it: `deno task train` with no model and no data
 * trains the embedded stories260K on data/pet-stories, prints the held-out samples and the
 * next command, and writes a bundle that `deno task serve` (default model) then serves.
 */
import { assert, assertEquals } from "../_assert.ts";
import { ROOT } from "../_fixtures.ts";

const dec = new TextDecoder();

Deno.test({
  name:
    "deno task train with no model or data trains stories260K, and serve answers with the bundle",
  sanitizeResources: false,
  async fn() {
    const tmp = await Deno.makeTempDir();
    const out = `${tmp}/runs/pet-stories`;
    try {
      const train = await new Deno.Command(Deno.execPath(), {
        args: [
          "task",
          "train",
          "--steps",
          "4",
          "--eval-every",
          "2",
          "--samples",
          "1",
          "--out",
          out,
        ],
        cwd: ROOT,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = dec.decode(train.stdout), stderr = dec.decode(train.stderr);
      assertEquals(train.code, 0, stderr);
      assert(stderr.includes("stories260K"), `the default model is named:\n${stderr}`);
      assert(stderr.includes('task "pet-stories"'), stderr);
      assert(/input: +name: .*\|\|\nbefore: .+\nafter: +.+/.test(stdout), stdout);
      assert(stdout.includes("deno task serve --bundles"), stdout);
      for (const f of ["pet-stories.prefix.zip", "metrics.jsonl", "loss.svg", "gates.svg"]) {
        assert((await Deno.stat(`${out}/${f}`)).isFile, `${f} written`);
      }

      const child = new Deno.Command(Deno.execPath(), {
        args: ["task", "serve", "--bundles", `${tmp}/runs`, "--port", "0", "--ep", "wasm"],
        cwd: ROOT,
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
      let log = "";
      try {
        let url: string | undefined;
        const deadline = Date.now() + 60_000;
        while (!url && Date.now() < deadline) {
          const { value, done } = await reader.read();
          if (done) break;
          log += value;
          url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(log)?.[1];
        }
        assert(url, `server did not start:\n${log}`);
        const res = await fetch(`${url}/v1/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            model: "pet-stories",
            prompt: "name: Max | animal: dog | place: park | thing: ball ||",
            max_tokens: 8,
          }),
        });
        const body = await res.json();
        assertEquals(res.status, 200, JSON.stringify(body));
        assertEquals(body.model, "pet-stories");
        assert(body.choices[0].text.length > 0, JSON.stringify(body));
      } finally {
        child.kill("SIGTERM");
        await reader.cancel().catch(() => {});
        await child.status;
      }
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
    assertEquals(first.code, 0, dec.decode(first.stderr));
    // Without the recorded arguments this would start the main job's 300 default steps.
    const state = JSON.parse(await Deno.readTextFile(`${out}/checkpoint/checkpoint.json`));
    assertEquals(state.step, 4);
    const again = await train(["--resume", out]);
    const stderr = dec.decode(again.stderr), stdout = dec.decode(again.stdout);
    assertEquals(again.code, 0, stderr);
    assert(stderr.includes("P=3"), `the recorded --prefix-len is reused:\n${stderr}`);
    assert(stderr.includes("steps=4"), `the recorded --steps is reused:\n${stderr}`);
    assert(stdout.includes("resumed from step 4"), stdout);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
