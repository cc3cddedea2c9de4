/** Usage errors exit 2 with one `error [INVALID_INPUT]: ...` line, before any model loads. */
import { assert, assertEquals } from "./_assert.ts";
import { ROOT } from "./_fixtures.ts";

const cases: [string, string[], string][] = [
  ["generate", ["--ep", "cuda"], "--ep"],
  ["serve", ["--ep", "cuda"], "--ep"],
  ["generate", ["--draft-tokens", "x"], "--draft-tokens"],
  ["serve", ["--draft-tokens", "1.5"], "--draft-tokens"],
  ["export-onnx", [], "--model"],
  ["export-onnx", ["--model", "models/stories260K", "--dtype", "q9"], "--dtype"],
  ["export-onnx", ["--model", "models/stories260K", "--calibration", "README.md"], "--calibration"],
  [
    "export-onnx",
    ["--model", "models/stories260K", "--dtype", "q4", "--calibration-tokens", "x"],
    "--calibration-tokens",
  ],
  ["train", ["--out", "x", "--resume", "y", "--overwrite"], "--overwrite"],
];

for (const [task, args, flag] of cases) {
  Deno.test(`deno task ${task} ${args.join(" ")} is a usage error naming ${flag}`, async () => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["task", "-q", task, ...args],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr).trim();
    assertEquals(out.code, 2, stderr);
    assert(stderr.startsWith("error [INVALID_INPUT]: ") && stderr.includes(flag), stderr);
    assertEquals(stderr.split("\n").length, 1, stderr);
  });
}
