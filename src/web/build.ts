/**
 * `deno task build:web`: the browser build of the SDK, in `dist/web/` (or `--out DIR`).
 *
 * - `mod.js`: src/web/mod.ts bundled for the browser by `deno bundle --platform browser`;
 * - `kernels/*.wgsl`: the WGSL kernels, which the bundle fetches beside itself;
 * - `ort/`: onnxruntime-web's WASM runtime (the `.wasm` and its `.mjs` loader) that its WebGPU
 *   build loads, which the bundle points `ort.env.wasm.wasmPaths` at.
 *
 * The build fails when the bundle imports a `node:` module (statically, or dynamically with a
 * literal specifier): a page cannot load one.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { buildPlayground } from "./playground/build_playground.ts";

const ROOT = new URL("../../", import.meta.url);
/** onnxruntime-web's files that its `/webgpu` entry (the one the SDK imports) loads. */
export const ORT_FILES = [
  "ort-wasm-simd-threaded.asyncify.wasm",
  "ort-wasm-simd-threaded.asyncify.mjs",
] as const;

const HELP = `deno task build:web [--out DIR]

Bundle the SDK for the browser: DIR/mod.js (an ES module), DIR/kernels/*.wgsl and DIR/ort/
(onnxruntime-web's WASM files). Serve DIR and import mod.js from a page.

Options:
  --out DIR   output folder (default: dist/web)
  --help      print this help`;

/**
 * The `node:` modules a bundle would load: static `import`/`export ... from "node:..."` and
 * `import("node:...")` with a literal specifier, outside comments.
 *
 * @param code the bundle's text
 * @returns the offending lines, with their line numbers
 *
 * @example
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { nodeImports } from "./build.ts";
 * assertEquals(nodeImports('// import x from "node:fs"\nconst a = 1;'), []);
 * assertEquals(nodeImports('import { createHash } from "node:crypto";'), [
 *   '1: import { createHash } from "node:crypto";',
 * ]);
 * ```
 */
export function nodeImports(code: string): string[] {
  // Blank out comments first (keeping line breaks, so line numbers stay right). Strings that
  // contain comment markers are rare in a bundle and would only hide a line, never add one.
  const stripped = code
    .replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, " "))
    .replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1");
  const found: string[] = [];
  const pattern =
    /(?:\bimport\s*(?:[\w*${}\s,]+\s*from\s*)?|\bexport\s*[\w*${}\s,]*\s*from\s*|\bimport\s*\(\s*)["']node:[^"']+["']/g;
  for (const m of stripped.matchAll(pattern)) {
    const line = stripped.slice(0, m.index).split("\n").length;
    found.push(`${line}: ${code.split("\n")[line - 1].trim()}`);
  }
  return found;
}

async function copyDir(from: URL, to: URL, ext: string): Promise<number> {
  await Deno.mkdir(to, { recursive: true });
  let n = 0;
  for await (const e of Deno.readDir(from)) {
    if (e.isFile && e.name.endsWith(ext)) {
      await Deno.copyFile(new URL(e.name, from), new URL(e.name, to));
      n++;
    }
  }
  return n;
}

/**
 * Build the browser bundle and its assets.
 *
 * @param out the output folder
 * @param log where progress lines go
 * @throws Error when `deno bundle` fails or the bundle imports a `node:` module
 */
export async function buildWeb(out: URL, log: (line: string) => void = console.log) {
  await Deno.remove(out, { recursive: true }).catch(() => {});
  await Deno.mkdir(out, { recursive: true });
  const mod = new URL("mod.js", out);
  const bundle = async (entry: URL, output: URL) => {
    const bundled = await new Deno.Command(Deno.execPath(), {
      args: [
        "bundle",
        "--quiet",
        "--platform",
        "browser",
        "--output",
        fileURLToPath(output),
        fileURLToPath(entry),
      ],
      cwd: ROOT,
      stdout: "inherit",
      stderr: "piped",
    }).output();
    if (bundled.code !== 0) {
      throw new Error(`deno bundle failed:\n${new TextDecoder().decode(bundled.stderr)}`);
    }
  };
  await bundle(new URL("src/web/mod.ts", ROOT), mod);
  const code = await Deno.readTextFile(mod);
  const bad = nodeImports(code);
  if (bad.length > 0) {
    throw new Error(
      `the browser bundle imports node modules, which a page cannot load:\n${bad.join("\n")}`,
    );
  }
  const kernels = await copyDir(new URL("kernels/", ROOT), new URL("kernels/", out), ".wgsl");
  const ortDist = new URL("./", import.meta.resolve("onnxruntime-web"));
  if (ortDist.protocol !== "file:") {
    throw new Error(`onnxruntime-web is not on the local file system (${ortDist.href})`);
  }
  await Deno.mkdir(new URL("ort/", out), { recursive: true });
  for (const f of ORT_FILES) await Deno.copyFile(new URL(f, ortDist), new URL(`ort/${f}`, out));
  const page = await buildPlayground(out, bundle);
  const bad2 = nodeImports(await Deno.readTextFile(new URL("playground.js", out)));
  if (bad2.length > 0) {
    throw new Error(
      `the playground imports node modules, which a page cannot load:\n${bad2.join("\n")}`,
    );
  }
  log(
    `built ${fileURLToPath(out)}: the playground (${page.length} files), mod.js (${
      (code.length / 1024).toFixed(0)
    } KB), ${kernels} kernels, ${ORT_FILES.length} onnxruntime-web files`,
  );
}

if (import.meta.main) {
  let args;
  try {
    args = parseArgs({
      args: Deno.args,
      options: { out: { type: "string" }, help: { type: "boolean" } },
    }).values;
  } catch (e) {
    console.error(`error [USAGE]: ${(e as Error).message}\n\n${HELP}`);
    Deno.exit(2);
  }
  if (args.help) {
    console.log(HELP);
    Deno.exit(0);
  }
  const out = args.out
    ? new URL(args.out.endsWith("/") ? args.out : `${args.out}/`, `file://${Deno.cwd()}/`)
    : new URL("dist/web/", ROOT);
  try {
    await buildWeb(out);
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
