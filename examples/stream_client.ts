/**
 * Stream a completion from a running prefix server and print it as it comes.
 *
 *   deno run --allow-net examples/stream_client.ts --task base --prompt "Once upon a time"
 *
 * Uses the OpenAI-compatible `POST /v1/completions` with `stream: true`: each
 * server-sent event is a `text_completion` chunk, and `data: [DONE]` ends it.
 *
 * @module
 */
import { parseArgs } from "node:util";

const HELP = `Usage: deno run --allow-net examples/stream_client.ts [options]

Options:
  --url URL          Server base URL (default http://127.0.0.1:8000)
  --task NAME        Task to use, or "base" for no prefix (default base)
  --prompt TEXT      Prompt (default "Once upon a time")
  --max-tokens N     New tokens (default 64)
  --temperature T    0 = greedy (default 0)
  -h, --help         Show this help`;

function parseOptions() {
  try {
    return parseArgs({
      args: Deno.args,
      options: {
        url: { type: "string", default: "http://127.0.0.1:8000" },
        task: { type: "string", default: "base" },
        prompt: { type: "string", default: "Once upon a time" },
        "max-tokens": { type: "string", default: "64" },
        temperature: { type: "string", default: "0" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    });
  } catch (e) {
    console.error(`error: ${(e as Error).message} (see --help)`);
    Deno.exit(2);
  }
}
const { values } = parseOptions();
if (values.help) {
  console.log(HELP);
  Deno.exit(0);
}

const res = await fetch(new URL("/v1/completions", values.url), {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({
    model: values.task,
    prompt: values.prompt,
    max_tokens: Number(values["max-tokens"]),
    temperature: Number(values.temperature),
    stream: true,
  }),
});
if (!res.ok) {
  // Every error has the same shape: {"error":{"code","message","type"}}.
  const { error } = await res.json();
  console.error(`error ${res.status} [${error.code}]: ${error.message}`);
  Deno.exit(1);
}

const out = new TextEncoder();
await Deno.stdout.write(out.encode(values.prompt));
let buffer = "";
let finish = "";
const decoder = new TextDecoder();
for await (const chunk of res.body!) {
  buffer += decoder.decode(chunk, { stream: true });
  // Events end with a blank line; keep a partial event for the next chunk.
  let end;
  while ((end = buffer.indexOf("\n\n")) >= 0) {
    const event = buffer.slice(0, end);
    buffer = buffer.slice(end + 2);
    const data = event.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6))
      .join("\n");
    if (data === "[DONE]") continue;
    const json = JSON.parse(data);
    if (json.error) {
      console.error(`\nerror [${json.error.code}]: ${json.error.message}`);
      Deno.exit(1);
    }
    const choice = json.choices?.[0];
    if (choice?.text) await Deno.stdout.write(out.encode(choice.text));
    if (choice?.finish_reason) finish = choice.finish_reason;
  }
}
console.log(`\n[finish_reason: ${finish}]`);
