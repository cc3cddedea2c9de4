/**
 * `deno task bundle`: each subcommand run in-process through `main()`, with
 * its output captured: inspect (table and --json, with and without a model),
 * convert, export-peft, import-peft, --help, and usage errors.
 */
import { assert, assertEquals } from "../_assert.ts";
import { GPT2_TINY, LLAMA_TINY } from "../_fixtures.ts";
import { PrefixBundle } from "../../src/bundle/mod.ts";
import { main } from "../../src/cli/bundle.ts";
import { VERSION } from "../../src/version.ts";
import { gpt2Tiny, oraclePrefix } from "./_helpers.ts";

const MODEL = `${GPT2_TINY}/model`;

async function run(...args: string[]) {
  const out: string[] = [], err: string[] = [];
  const code = await main(args, { out: (s) => out.push(s), err: (s) => err.push(s) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

async function withBundle(fn: (dir: string, file: string) => Promise<void>) {
  const dir = await Deno.makeTempDir();
  try {
    const b = await PrefixBundle.create({
      prefix: await oraclePrefix(),
      model: await gpt2Tiny(),
      task: "cli-task",
      method: { reparam: "residual", gate: true, midDim: 32, gates: [0.1, 0.2, 0.3, 0.4] },
      training: { steps: 5 },
    });
    const file = `${dir}/cli.prefix.zip`;
    await Deno.writeFile(file, await b.toBytes());
    await fn(dir, file);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("bundle inspect prints a table and says when the base was not verified", async () => {
  await withBundle(async (_dir, file) => {
    const noModel = await run("inspect", file);
    assertEquals(noModel.code, 0, noModel.err);
    assert(noModel.out.includes("cli-task"));
    assert(noModel.out.includes("P=4 L=2 H=4 hd=16 (S=256)"), noModel.out);
    assert(noModel.out.includes("base model was NOT verified"), noModel.out);
    const withModel = await run("inspect", file, "--model", MODEL);
    assertEquals(withModel.code, 0, withModel.err);
    assert(withModel.out.includes("file and base model"), withModel.out);
  });
});

Deno.test("bundle inspect --json prints the manifest and what was verified", async () => {
  await withBundle(async (_dir, file) => {
    const r = await run("inspect", file, "--json", "--model", MODEL);
    assertEquals(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assertEquals(j.verified.base, true);
    assertEquals(j.manifest.task, "cli-task");
    assertEquals(j.manifest.dtype, "F16");
    assertEquals(j.manifest.method.gates, [0.1, 0.2, 0.3, 0.4]);
  });
});

Deno.test("bundle inspect refuses a bundle for another model with exit 1 and the code", async () => {
  await withBundle(async (_dir, file) => {
    const r = await run("inspect", file, "--model", `${LLAMA_TINY}/model`);
    assertEquals(r.code, 1);
    assert(r.err.startsWith("error [BASE_MISMATCH]: Cannot"), r.err);
  });
});

Deno.test("bundle convert re-encodes to i8 and back to f32", async () => {
  await withBundle(async (dir, file) => {
    const r = await run(
      "convert",
      file,
      "--dtype",
      "i8",
      "--out",
      `${dir}/q.prefix.zip`,
      "--model",
      MODEL,
    );
    assertEquals(r.code, 0, r.err);
    const q = await PrefixBundle.load(`${dir}/q.prefix.zip`, { model: await gpt2Tiny() });
    assertEquals(q.manifest.dtype, "I8");
    assertEquals(q.manifest.method.gates, [0.1, 0.2, 0.3, 0.4]);
    const r2 = await run(
      "convert",
      `${dir}/q.prefix.zip`,
      "--dtype",
      "f32",
      "-o",
      `${dir}/f.prefix.zip`,
    );
    assertEquals(r2.code, 0, r2.err);
    assert(r2.out.includes("base model not verified"), r2.out);
    const bad = await run("convert", file, "--dtype", "bf16", "--out", `${dir}/x.zip`);
    assertEquals(bad.code, 2);
    assert(bad.err.includes("--dtype: it must be f16, i8 or f32"), bad.err);
  });
});

Deno.test("bundle export-peft and import-peft round-trip through an adapter folder", async () => {
  await withBundle(async (dir, file) => {
    const e = await run("export-peft", file, "--model", MODEL, "--out", `${dir}/peft`);
    assertEquals(e.code, 0, e.err);
    const cfg = JSON.parse(await Deno.readTextFile(`${dir}/peft/adapter_config.json`));
    assertEquals(cfg.peft_type, "PREFIX_TUNING");
    const i = await run(
      "import-peft",
      `${dir}/peft`,
      "--model",
      MODEL,
      "--out",
      `${dir}/back.prefix.zip`,
      "--task",
      "from-peft",
      "--dtype",
      "f32",
    );
    assertEquals(i.code, 0, i.err);
    const model = await gpt2Tiny();
    const a = await PrefixBundle.load(file, { model });
    const b = await PrefixBundle.load(`${dir}/back.prefix.zip`, { model });
    assertEquals(b.manifest.task, "from-peft");
    assertEquals(Array.from(b.prefix.kv), Array.from(a.prefix.kv));
    const missing = await run("export-peft", file, "--out", `${dir}/p2`);
    assertEquals(missing.code, 2);
    assert(missing.err.includes("needs --model"), missing.err);
  });
});

Deno.test("bundle --help and each subcommand's --help print usage; bad input exits 2", async () => {
  const top = await run("--help");
  assertEquals(top.code, 0);
  assert(top.out.includes("import-peft DIR"));
  for (const cmd of ["inspect", "convert", "export-peft", "import-peft"]) {
    const h = await run(cmd, "--help");
    assertEquals(h.code, 0);
    assert(h.out.startsWith(`Usage: deno task bundle ${cmd}`), h.out);
  }
  assertEquals((await run()).code, 2);
  assertEquals((await run("explode")).code, 2);
  assertEquals((await run("inspect")).code, 2);
  assertEquals((await run("inspect", "a", "b")).code, 2);
  assertEquals((await run("inspect", "x.zip", "--bogus")).code, 2);
  const nf = await run("inspect", "/nonexistent/x.prefix.zip");
  assertEquals(nf.code, 1);
  assert(nf.err.includes("FILE_NOT_FOUND"), nf.err);
});

Deno.test("bundle refuses folders, missing folders and files in the wrong place with one line", async () => {
  await withBundle(async (dir, file) => {
    const expectOne = (r: { code: number; err: string }, code: string, text: string) => {
      assertEquals(r.code, 1, r.err);
      assertEquals(r.err.split("\n").length, 1, r.err);
      assert(r.err.startsWith(`error [${code}]: Cannot`), r.err);
      assert(r.err.includes(text), r.err);
    };
    expectOne(await run("inspect", dir), "FILE_NOT_FOUND", "is a folder, not a bundle file");
    expectOne(
      await run("convert", file, "--dtype", "i8", "--out", dir),
      "INVALID_INPUT",
      `Cannot write ${dir}: it is a folder`,
    );
    expectOne(
      await run("convert", file, "--dtype", "i8", "--out", `${dir}/no/such/q.prefix.zip`),
      "FILE_NOT_FOUND",
      `the folder ${dir}/no/such does not exist`,
    );
    expectOne(
      await run("export-peft", file, "--model", MODEL, "--out", file),
      "INVALID_INPUT",
      "it is a file, and an adapter is a folder",
    );
    expectOne(
      await run("import-peft", `${dir}/none`, "--model", MODEL, "--out", `${dir}/x.prefix.zip`),
      "FILE_NOT_FOUND",
      "no such folder",
    );
    expectOne(
      await run("import-peft", file, "--model", MODEL, "--out", `${dir}/x.prefix.zip`),
      "FILE_NOT_FOUND",
      "it is a file, not a PEFT adapter folder",
    );
    // A trailing slash on --out does not double the separator in the message.
    const e = await run("export-peft", file, "--model", MODEL, "--out", `${dir}/peft/`);
    assertEquals(e.code, 0, e.err);
    assert(e.out.startsWith(`wrote ${dir}/peft/adapter_config.json and`), e.out);
  });
});

Deno.test("bundle usage errors start with one clear line", async () => {
  await withBundle(async (dir, file) => {
    const noDtype = await run("convert", file, "--out", `${dir}/q.prefix.zip`);
    assertEquals(noDtype.code, 2);
    assertEquals(
      noDtype.err.split("\n")[0],
      "error [INVALID_INPUT]: Cannot run convert: it needs --dtype (f16, i8 or f32)",
    );
    const bogus = await run("inspect", file, "--bogus");
    assertEquals(bogus.code, 2);
    assertEquals(
      bogus.err.split("\n")[0],
      "error [INVALID_INPUT]: Cannot parse arguments: Unknown option '--bogus' (see --help)",
    );
    const version = await run("--version");
    assertEquals([version.code, version.out.trim()], [0, `prefix-edge ${VERSION}`]);
  });
});
