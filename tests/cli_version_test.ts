/** Every CLI prints the package version for --version, and it matches deno.json. */
import { VERSION } from "../src/version.ts";
import { assertEquals } from "./_assert.ts";
import { ROOT } from "./_fixtures.ts";

Deno.test("VERSION equals deno.json's version", async () => {
  const deno = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  assertEquals(VERSION, deno.version);
});

for (const cli of ["generate", "train", "serve", "bundle"]) {
  Deno.test(`deno task ${cli} --version prints the version and exits 0; an unknown flag exits 2`, async () => {
    const run = (arg: string) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          `${ROOT}src/cli/${cli}.ts`,
          ...(cli === "bundle" && arg !== "--version" ? ["inspect", "x"] : []),
          arg,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
    const v = await run("--version");
    assertEquals([v.code, new TextDecoder().decode(v.stdout).trim()], [
      0,
      `prefix-edge ${VERSION}`,
    ]);
    const bad = await run("--no-such-flag");
    assertEquals(bad.code, 2, new TextDecoder().decode(bad.stderr));
  });
}
