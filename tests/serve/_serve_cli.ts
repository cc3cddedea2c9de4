/**
 * Start `src/cli/serve.ts` as `deno task serve` does (a child process, `--port 0`), wait for its
 * "listening on" line, hand the URL and the startup log to the test, and stop it afterwards.
 */
import { assert } from "../_assert.ts";
import { ROOT } from "../_fixtures.ts";

const CLI = `${ROOT}src/cli/serve.ts`;

/**
 * Run `fn` against a server started with these CLI arguments (`--port 0` is added).
 *
 * @param args serve's arguments, e.g. `["--model", dir, "--bundles", dir, "--ep", "wasm"]`
 * @param fn the test, given the server's base URL and its startup log
 */
export function withServeCli(
  args: string[],
  fn: (url: string, log: string) => Promise<void>,
): Promise<void> {
  return withListening(
    Deno.execPath(),
    ["run", "--unstable-no-legacy-abort", "-A", CLI, ...args, "--port", "0"],
    {},
    fn,
  );
}

/**
 * Run `fn` against any server process that logs `listening on http://127.0.0.1:PORT` on stderr.
 *
 * @param command the program
 * @param args its arguments (the caller picks a free port, e.g. `--port 0`)
 * @param options working folder and environment
 * @param fn the test, given the base URL and the startup log
 */
export async function withListening(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> },
  fn: (url: string, log: string) => Promise<void>,
): Promise<void> {
  const child = new Deno.Command(command, {
    args,
    ...options,
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
    await fn(url, log);
  } finally {
    child.kill("SIGTERM");
    await reader.cancel().catch(() => {});
    await child.status;
  }
}
