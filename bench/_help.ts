/**
 * `--help` for the benchmark scripts: prints the script's opening doc comment
 * (its usage and what it measures) and exits, so the text lives in one place.
 */

/**
 * If `-h` or `--help` is among the arguments, print the script's doc comment and exit 0.
 *
 * @param scriptUrl the calling script's `import.meta.url`
 * @param args the arguments (default `Deno.args`)
 */
export function printHelpIfAsked(scriptUrl: string, args: string[] = Deno.args): void {
  if (!args.includes("--help") && !args.includes("-h")) return;
  const text = Deno.readTextFileSync(new URL(scriptUrl));
  const doc = text.match(/^\/\*\*([\s\S]*?)\*\//)?.[1];
  console.log(
    doc
      ? doc.split("\n").map((line) => line.replace(/^\s*\* ?/, "")).join("\n").trim()
      : "This script takes no options.",
  );
  Deno.exit(0);
}
