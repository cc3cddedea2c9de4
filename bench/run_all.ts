/**
 * `deno task bench`: runs every `bench/*_bench.ts` script in turn, each in
 * its own process so one benchmark's memory and GPU state never leak into the
 * next. Each script prints its own table; results are recorded by hand in
 * bench/RESULTS.md together with this command.
 *
 * Usage: deno task bench [name-substring ...]
 */
import { fileURLToPath as fromFileUrl } from "node:url";
import { printHelpIfAsked } from "./_help.ts";

printHelpIfAsked(import.meta.url);

const dir = fromFileUrl(new URL(".", import.meta.url));
const filters = Deno.args;
const scripts = [...Deno.readDirSync(dir)]
  .map((e) => e.name)
  .filter((n) => n.endsWith("_bench.ts"))
  .filter((n) => filters.length === 0 || filters.some((f) => n.includes(f)))
  .sort();
if (scripts.length === 0) {
  console.error(`No benchmark matches ${filters.join(", ")}`);
  Deno.exit(1);
}
let failed = 0;
for (const name of scripts) {
  console.log(`\n## ${name}\n`);
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${dir}${name}`],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (code !== 0) {
    failed++;
    console.error(`${name} exited with ${code}`);
  }
}
Deno.exit(failed ? 1 : 0);
