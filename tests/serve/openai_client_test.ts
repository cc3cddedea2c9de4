/**
 * The official `openai` npm client against `deno task serve --model models/stories260K` with the
 * real engine (WASM): models.list, chat.completions.create plain and streamed, and an error
 * surfaced by the client as OpenAI's code. stories260K has no chat_template, so the server renders
 * the plain fallback; the chat answer must equal a greedy completion of that exact prompt.
 */
import OpenAI from "openai";
import { PrefixBundle } from "../../src/bundle/mod.ts";
import { applyChatTemplate, loadModel, prefixWidth } from "../../src/model/mod.ts";
import { assert, assertEquals } from "../_assert.ts";
import { STORIES } from "../_fixtures.ts";
import { randomPrefix } from "../infer/_engines.ts";
import { withServeCli as startServeCli } from "./_serve_cli.ts";

async function withServeCli(fn: (url: string) => Promise<void>) {
  const bundles = await Deno.makeTempDir();
  const model = await loadModel(STORIES);
  const bundle = await PrefixBundle.create({
    prefix: randomPrefix(prefixWidth(model.config), 4, 7, 1),
    model,
    task: "story",
    method: { reparam: "none", gate: false, midDim: null },
    training: { data: "random", steps: 0 },
  });
  await Deno.writeFile(`${bundles}/story.prefix.zip`, await bundle.toBytes({ dtype: "F32" }));
  try {
    await startServeCli(
      ["--model", STORIES, "--bundles", bundles, "--ep", "wasm"],
      (url) => fn(url),
    );
  } finally {
    await Deno.remove(bundles, { recursive: true });
  }
}

Deno.test({
  name: "the openai client lists models and chats, plain and streamed, on the real engine",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withServeCli(async (url) => {
      const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 });
      const models = [];
      for await (const m of client.models.list()) models.push(m.id);
      assertEquals(models, ["base", "story"]);

      const messages = [{ role: "user" as const, content: "Tell me about a cat." }];
      const chat = await client.chat.completions.create({
        model: "story",
        messages,
        max_completion_tokens: 12,
        temperature: 0,
      });
      const text = chat.choices[0].message.content ?? "";
      assert(text.length > 0, "an answer");
      assertEquals(chat.choices[0].message.role, "assistant");
      assert(["stop", "length"].includes(chat.choices[0].finish_reason));
      assert(chat.usage!.completion_tokens > 0 && chat.usage!.completion_tokens <= 12);

      // The same prompt, rendered by the fallback, as a plain greedy completion.
      const completion = await client.completions.create({
        model: "story",
        prompt: applyChatTemplate({}, messages),
        max_tokens: 12,
        temperature: 0,
      });
      assertEquals(text, completion.choices[0].text);

      const stream = await client.chat.completions.create({
        model: "story",
        messages,
        max_completion_tokens: 12,
        temperature: 0,
        stream: true,
        stream_options: { include_usage: true },
      });
      let streamed = "";
      let finish: string | null = null;
      let usage = null;
      for await (const chunk of stream) {
        streamed += chunk.choices[0]?.delta.content ?? "";
        finish = chunk.choices[0]?.finish_reason ?? finish;
        usage = chunk.usage ?? usage;
      }
      assertEquals(streamed, text);
      assertEquals(finish, chat.choices[0].finish_reason);
      assertEquals(usage?.completion_tokens, chat.usage!.completion_tokens);

      let caught: unknown;
      try {
        await client.chat.completions.create({ model: "nope", messages });
      } catch (e) {
        caught = e;
      }
      assert(caught instanceof OpenAI.APIError, String(caught));
      assertEquals([caught.status, caught.code, caught.param], [404, "model_not_found", "model"]);
    });
  },
});
