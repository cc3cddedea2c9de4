/**
 * The playground's part of the browser build: its page (`index.html`, `playground.css`), its
 * script (`playground.js`, bundled like the SDK) and the main job's model and data under
 * `assets/`, so `dist/web/` runs the playground as static files, and `deno task serve` serves it.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { MAIN_JOB_FILES } from "../../train/mod.ts";

const ROOT = new URL("../../../", import.meta.url);
const HERE = new URL("./", import.meta.url);

/** The model folder's files a page needs (no READMEs, no reference outputs). */
const MODEL_FILES = [
  "config.json",
  "generation_config.json",
  "model.safetensors",
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "LICENSE.md",
  "onnx/model.onnx",
  "onnx/export.json",
];

/**
 * Write the playground into the build folder.
 *
 * @param out the build folder (`dist/web/`)
 * @param bundle bundles a TS entry into a JS file (the build's `deno bundle` step)
 * @returns the files written, relative to `out`
 */
export async function buildPlayground(
  out: URL,
  bundle: (entry: URL, output: URL) => Promise<void>,
): Promise<string[]> {
  const written: string[] = [];
  const copy = async (from: URL, rel: string) => {
    const to = new URL(rel, out);
    await Deno.mkdir(new URL("./", to), { recursive: true });
    await Deno.copyFile(from, to);
    written.push(rel);
  };
  await bundle(new URL("playground.ts", HERE), new URL("playground.js", out));
  written.push("playground.js");
  await copy(new URL("index.html", HERE), "index.html");
  await copy(new URL("playground.css", HERE), "playground.css");
  for (const f of MODEL_FILES) {
    const from = new URL(`${MAIN_JOB_FILES.model}/${f}`, ROOT);
    if (await exists(from)) await copy(from, `assets/${MAIN_JOB_FILES.model}/${f}`);
  }
  const data = MAIN_JOB_FILES.train.slice(0, MAIN_JOB_FILES.train.lastIndexOf("/"));
  for (const rel of [MAIN_JOB_FILES.train, MAIN_JOB_FILES.dev, MAIN_JOB_FILES.slots]) {
    await copy(new URL(rel, ROOT), `assets/${rel}`);
  }
  await copy(new URL(`${data}/LICENSE.md`, ROOT), `assets/${data}/LICENSE.md`);
  return written;
}

async function exists(url: URL): Promise<boolean> {
  return await Deno.stat(fileURLToPath(url)).then(() => true, () => false);
}
