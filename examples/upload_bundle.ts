/**
 * Upload a freshly trained bundle to a running prefix server, then try it.
 *
 *   deno task train ... --task-name greet --out runs/greet   # writes runs/greet/greet.prefix.zip
 *   deno run --allow-net --allow-read examples/upload_bundle.ts \
 *     --file runs/greet/greet.prefix.zip --task greet --token-file admin.token
 *
 * The server verifies the bundle against its base model before storing it
 * (a bundle for another base gets 422 BASE_MISMATCH and nothing changes); a
 * task that already exists is replaced atomically: requests running on the
 * old bundle finish on it, the next ones use the new one.
 *
 * @module
 */
import { basename } from "node:path";
import { parseArgs } from "node:util";

const HELP =
  `Usage: deno run --allow-net --allow-read examples/upload_bundle.ts --file FILE --token-file FILE [options]

Options:
  --file FILE         The bundle (<task>.prefix.zip) to upload
  --task NAME         Task name (default: the file name without .prefix.zip)
  --token-file FILE   File holding the server's admin token
  --url URL           Server base URL (default http://127.0.0.1:8000)
  --prompt TEXT       Prompt for a test completion after the upload (default "Hello")
  -h, --help          Show this help`;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    file: { type: "string" },
    task: { type: "string" },
    "token-file": { type: "string" },
    url: { type: "string", default: "http://127.0.0.1:8000" },
    prompt: { type: "string", default: "Hello" },
    help: { type: "boolean", short: "h" },
  },
  strict: true,
});
if (values.help) {
  console.log(HELP);
  Deno.exit(0);
}
if (!values.file || !values["token-file"]) {
  console.error("error: --file and --token-file are required (see --help)");
  Deno.exit(2);
}
const task = values.task ?? basename(values.file).replace(/\.prefix\.zip$/, "");
const token = (await Deno.readTextFile(values["token-file"])).trim();
const bytes = await Deno.readFile(values.file);

const put = await fetch(new URL(`/v1/tasks/${encodeURIComponent(task)}`, values.url), {
  method: "PUT",
  headers: { authorization: `Bearer ${token}`, "content-type": "application/zip" },
  body: bytes,
});
const body = await put.json();
if (!put.ok) {
  console.error(`upload refused: ${put.status} [${body.error.code}] ${body.error.message}`);
  Deno.exit(1);
}
console.log(
  `${body.replaced ? "replaced" : "added"} task '${task}' (${bytes.length} bytes):`,
  JSON.stringify(body.manifest),
);

const res = await fetch(new URL("/v1/completions", values.url), {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ model: task, prompt: values.prompt, max_tokens: 32, temperature: 0 }),
});
const out = await res.json();
if (!res.ok) {
  console.error(`test completion failed: [${out.error.code}] ${out.error.message}`);
  Deno.exit(1);
}
console.log(`${values.prompt}${out.choices[0].text}`);
