/**
 * A newcomer's path through the README, on a fresh clone of the repository: every shell command
 * of its "What you can do" sections runs and succeeds (each served request answers 200), and
 * afterwards `git status` is clean, so no command leaves files the repository would track.
 *
 * Two commands are left out: the set-up (`deno task train`, the main job, which
 * tests/train/main_job_test.ts runs in full, and `deno task test`, this suite) and the Checks
 * section (test, check, bench). The main job's bundle is stood in by the previous release's
 * bundle, which serves the README's request as well (tests/fixtures/README.md).
 */
import { join } from "node:path";
import { assert, assertEquals } from "../_assert.ts";
import { FIXTURES, GPT2_TOK, ROOT } from "../_fixtures.ts";
import { withListening } from "../serve/_serve_cli.ts";

const dec = new TextDecoder();

/** The README's ```sh blocks, each as a list of commands (continuation lines joined). */
function shellBlocks(readme: string): string[][] {
  const blocks: string[][] = [];
  for (const m of readme.matchAll(/```sh\n([\s\S]*?)```/g)) {
    blocks.push(m[1].replace(/\\\n\s*/g, " ").split("\n").map((l) => l.trim()).filter(Boolean));
  }
  return blocks;
}

async function sh(cwd: string, command: string, env: Record<string, string>) {
  const out = await new Deno.Command("bash", {
    args: ["-c", command],
    cwd,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, text: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

Deno.test({
  name: "the README's commands run on a fresh clone, and leave git status clean",
  sanitizeResources: false,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "readme-" });
    const clone = join(tmp, "repo");
    try {
      const cloned = await new Deno.Command("git", {
        args: ["clone", "--quiet", ROOT, clone],
        stdout: "null",
        stderr: "piped",
      }).output();
      assertEquals(cloned.code, 0, dec.decode(cloned.stderr));
      // `deno` on the PATH is this Deno, as the README's "deno" means `npx -y deno@2.9.6`.
      const bin = join(tmp, "bin");
      await Deno.mkdir(bin);
      await Deno.writeTextFile(join(bin, "deno"), `#!/bin/sh\nexec "${Deno.execPath()}" "$@"\n`);
      await Deno.chmod(join(bin, "deno"), 0o755);
      const env = { PATH: `${bin}:${Deno.env.get("PATH")}` };
      // The main job's bundle, where `deno task train` puts it.
      await Deno.mkdir(join(clone, "runs/pet-stories"), { recursive: true });
      await Deno.copyFile(
        join(FIXTURES, "bundles/pet-stories-0.1.0.prefix.zip"),
        join(clone, "runs/pet-stories/pet-stories.prefix.zip"),
      );
      // `export-onnx --model DIR` writes into DIR: a copy of a model outside the clone.
      const dir = join(tmp, "model");
      await Deno.mkdir(dir);
      for (const f of ["config.json", "model.safetensors", "tokenizer.json"]) {
        await Deno.copyFile(join(GPT2_TOK, f), join(dir, f));
      }

      const blocks = shellBlocks(await Deno.readTextFile(join(clone, "README.md")));
      const setUp = blocks.shift()!;
      assert(setUp.some((c) => c.includes("task train")), `the set-up block: ${setUp}`);
      let ran = 0;
      for (const block of blocks) {
        if (block.some((c) => /^deno task (test|check|bench)\b/.test(c))) continue;
        const run = async (command: string, url?: string) => {
          const line = url
            ? command.replace("localhost:8000", url.replace("http://", ""))
              .replace("curl -s ", "curl -sf ")
            : command;
          const r = await sh(clone, line, env);
          assertEquals(r.code, 0, `${line}\n${r.text}`);
          ran++;
        };
        const commands = block.map((c) => c.replaceAll(/\bDIR\b/g, dir));
        const at = commands.findIndex((c) => c.startsWith("deno task serve"));
        for (const c of at < 0 ? commands : commands.slice(0, at)) await run(c);
        if (at < 0) continue;
        // The server runs while the rest of its block (the requests) does, on a free port.
        const serve = commands[at].replace(/\s+#.*$/, "").replace(/--port \d+/, "").trim();
        await withListening(
          "bash",
          ["-c", `exec ${serve} --port 0`],
          { cwd: clone, env },
          async (url) => {
            for (const c of commands.slice(at + 1)) await run(c, url);
          },
        );
      }
      assert(ran >= 15, `ran ${ran} commands`);
      const status = await new Deno.Command("git", {
        args: ["status", "--porcelain"],
        cwd: clone,
        stdout: "piped",
      }).output();
      assertEquals(dec.decode(status.stdout), "", "files the README's commands left behind");
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
