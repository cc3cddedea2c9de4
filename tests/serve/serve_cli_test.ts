/** `deno task serve` as a user runs it: help, bad input, and a real start on loopback. */
import { assert, assertEquals } from "../_assert.ts";
import { GPT2_TOK, ROOT } from "../_fixtures.ts";
import { withServeCli } from "./_serve_cli.ts";

const CLI = `${ROOT}src/cli/serve.ts`;

async function run(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("serve --help lists every option", async () => {
  const { code, stdout } = await run(["--help"]);
  assertEquals(code, 0);
  for (
    const opt of [
      "--model",
      "--bundles",
      "s3://",
      "--revalidate-s",
      "--port",
      "--ep",
      "--token-file",
      "--budget-mb",
    ]
  ) {
    assert(stdout.includes(opt), `help mentions ${opt}`);
  }
});

Deno.test("serve refuses bad input with a coded error: exit 2 for usage, 1 for failures", async () => {
  const cases: [string[], string, number][] = [
    [["--port", "abc"], "INVALID_INPUT", 2],
    [["--model", "/no/such/model"], "FILE_NOT_FOUND", 1],
    [["--ep", "cuda", "--model", GPT2_TOK], "INVALID_INPUT", 2],
    [["--nope"], "INVALID_INPUT", 2],
    [["--revalidate-s", "-1"], "INVALID_INPUT", 2],
    [["--cors", "not an origin"], "INVALID_INPUT", 1],
    [["--token-file", "/no/such/token", "--model", GPT2_TOK], "FILE_NOT_FOUND", 1],
  ];
  for (const [args, code, exit] of cases) {
    const r = await run(args);
    assertEquals(r.code, exit, `${args.join(" ")}: ${r.stderr}`);
    assert(r.stderr.includes(`error [${code}]`), `${args.join(" ")}: ${r.stderr}`);
  }
});

Deno.test("serve starts on loopback, logs its backend and answers /healthz", async () => {
  const bundles = await Deno.makeTempDir();
  try {
    await withServeCli(
      ["--model", GPT2_TOK, "--bundles", bundles, "--ep", "wasm"],
      async (url, log) => {
        assert(log.includes("backend: wasm (as requested)"), log);
        assert(log.includes("uploads: off"), log);
        const health = await (await fetch(`${url}/healthz`)).json();
        assertEquals(health.execution_provider, "wasm");
        assertEquals(health.model.family, "gpt2");
      },
    );
  } finally {
    await Deno.remove(bundles, { recursive: true });
  }
});
