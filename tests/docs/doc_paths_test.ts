/**
 * The docs name only paths a clone has: every repository path in README.md and docs/*.md (in
 * code spans, code blocks and links) exists, and none points outside the repository.
 */
import { dirname, join, normalize, relative } from "node:path";
import { assert } from "../_assert.ts";
import { ROOT } from "../_fixtures.ts";

const TOP = ["src", "tests", "docs", "data", "models", "bench", "examples", "kernels", ".ci"];
const TOP_FILES = ["mod.ts", "deno.json", "deno.lock", "README.md", "LICENSE", ".gitignore"];
/** Paths a command writes (under runs/, or a temporary folder): not expected in a clone. */
const WRITTEN = /^(runs|dist|\/tmp|~)\//;

async function docs(): Promise<string[]> {
  const out = [`${ROOT}README.md`];
  for await (const e of Deno.readDir(`${ROOT}docs`)) {
    if (e.isFile && e.name.endsWith(".md")) out.push(join(ROOT, "docs", e.name));
  }
  return out;
}

/** Candidate repository paths: words that start with a top-level folder or file of the repo. */
function repoPaths(text: string): string[] {
  const found = new Set<string>();
  const word = new RegExp(
    String.raw`(?<![\w./-])((?:${TOP.map((t) => t.replace(".", "\\.")).join("|")})/[\w./@+-]*|(?:${
      TOP_FILES.map((t) => t.replace(".", "\\.")).join("|")
    }))(?![\w/-])`,
    "g",
  );
  for (const m of text.matchAll(word)) {
    const p = m[1].replace(/[.,:;)]+$/, "");
    // Placeholders and globs name a kind of path, not one path.
    if (/[<>*$]|\.\.\.|\{/.test(p) || text.startsWith("*", m.index! + m[0].length)) continue;
    found.add(p);
  }
  return [...found];
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

Deno.test("every repository path the docs name exists", async () => {
  const missing: string[] = [];
  for (const doc of await docs()) {
    const text = await Deno.readTextFile(doc);
    for (const p of repoPaths(text)) {
      if (!(await exists(join(ROOT, p)))) missing.push(`${relative(ROOT, doc)}: ${p}`);
    }
    // Relative links resolve from the document's folder.
    for (const m of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      const target = m[1];
      if (/^[a-z]+:/i.test(target)) continue;
      if (!(await exists(join(dirname(doc), target)))) {
        missing.push(`${relative(ROOT, doc)}: link ${target}`);
      }
    }
  }
  assert(missing.length === 0, `paths that do not exist:\n${missing.join("\n")}`);
});

Deno.test("no doc points outside the repository", async () => {
  const outside: string[] = [];
  for (const doc of await docs()) {
    const text = await Deno.readTextFile(doc);
    for (const m of text.matchAll(/(?<![\w.])\.\.\/[\w./-]+/g)) {
      const resolved = normalize(join(dirname(doc), m[0]));
      if (!resolved.startsWith(ROOT) && !WRITTEN.test(m[0])) {
        outside.push(`${relative(ROOT, doc)}: ${m[0]}`);
      }
    }
  }
  assert(outside.length === 0, `paths outside the repository:\n${outside.join("\n")}`);
});
