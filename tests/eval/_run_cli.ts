/** Run one of the project's CLIs as a user does, capturing its exit code and output. */
import { ROOT } from "../_fixtures.ts";

/**
 * @param script file under src/cli/, e.g. "eval.ts"
 * @param args its arguments
 * @returns exit code, stdout and stderr
 */
export async function runCliScript(
  script: string,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}src/cli/${script}`, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}
