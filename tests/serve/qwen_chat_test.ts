/**
 * A Qwen folder served as `deno task serve --model <folder>` does: qwen2-tiny's weights and ONNX
 * graph, a byte-level BPE tokenizer with Qwen's special tokens inside the model's 600 ids,
 * Qwen2.5's ChatML `chat_template`, and Qwen's generation_config.json, whose `eos_token_id` lists
 * `<|im_end|>` (the end of a turn) beside `<|endoftext|>`.
 *
 * The tokenizer has no merges, so a text's token count is known without it: one token per UTF-8
 * byte, plus one per special token. The expected ChatML rendering is written out by hand.
 */
import { loadModel } from "../../src/model/mod.ts";
import { InferenceEngine } from "../../src/infer/mod.ts";
import { assert, assertEquals } from "../_assert.ts";
import { FIXTURES, GPT2_TOKENIZER, QWEN2_TINY } from "../_fixtures.ts";
import { withServeCli } from "./_serve_cli.ts";

const ENDOFTEXT = 597;
const IM_START = 598;
const IM_END = 599;
const SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
const DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

/** ChatML as Qwen2.5 renders it, written out by hand. */
function chatml(messages: { role: string; content: string }[]): string {
  const turns = messages[0].role === "system"
    ? messages
    : [{ role: "system", content: DEFAULT_SYSTEM }, ...messages];
  return turns.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join("") +
    "<|im_start|>assistant\n";
}

/** Tokens of a text under a merge-free byte-level BPE: bytes, plus one per special token. */
function countTokens(text: string): number {
  let n = 0;
  for (const part of text.split(/(<\|endoftext\|>|<\|im_start\|>|<\|im_end\|>)/)) {
    n += SPECIALS.includes(part) ? 1 : new TextEncoder().encode(part).length;
  }
  return n;
}

/** A Qwen2.5-style model folder in a temp dir. */
async function qwenFolder(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "qwen-chat-" });
  const src = `${QWEN2_TINY}/model`;
  await Deno.mkdir(`${dir}/onnx`);
  await Deno.copyFile(`${src}/model.safetensors`, `${dir}/model.safetensors`);
  await Deno.copyFile(`${src}/onnx/model.onnx`, `${dir}/onnx/model.onnx`);
  // As Qwen's base config: BOS = EOS = <|endoftext|>; <|im_end|> comes from generation_config.
  const config = JSON.parse(await Deno.readTextFile(`${src}/config.json`));
  await writeJson(`${dir}/config.json`, {
    ...config,
    bos_token_id: ENDOFTEXT,
    eos_token_id: ENDOFTEXT,
  });
  await writeJson(`${dir}/generation_config.json`, {
    bos_token_id: ENDOFTEXT,
    eos_token_id: [IM_END, ENDOFTEXT],
    do_sample: false,
  });

  // GPT-2's byte-level BPE vocabulary cut to ids 0..596 (0..255 are the 256 bytes), no merges.
  const gpt2 = JSON.parse(await Deno.readTextFile(`${GPT2_TOKENIZER}/tokenizer.json`));
  const vocab = Object.fromEntries(
    Object.entries(gpt2.model.vocab as Record<string, number>).filter(([, id]) => id < ENDOFTEXT),
  );
  const added = (id: number, content: string) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  await writeJson(`${dir}/tokenizer.json`, {
    ...gpt2,
    added_tokens: SPECIALS.map((s, i) => added(ENDOFTEXT + i, s)),
    model: { ...gpt2.model, vocab, merges: [] },
  });
  await writeJson(`${dir}/tokenizer_config.json`, {
    add_bos_token: false,
    add_prefix_space: false,
    added_tokens_decoder: Object.fromEntries(
      SPECIALS.map((s, i) => {
        const { id: _, ...rest } = added(ENDOFTEXT + i, s);
        return [String(ENDOFTEXT + i), rest];
      }),
    ),
    bos_token: null,
    eos_token: "<|endoftext|>",
    pad_token: "<|endoftext|>",
    chat_template: await Deno.readTextFile(`${FIXTURES}chat-templates/qwen2.5.jinja`),
    model_max_length: 128,
    tokenizer_class: "Qwen2Tokenizer",
  });
  return dir;
}

async function writeJson(path: string, value: unknown) {
  await Deno.writeTextFile(path, JSON.stringify(value, null, 2));
}

const MESSAGES = [{ role: "user", content: "Hi" }];
/** Sampling flat enough for a random tiny model to leave the token it would repeat greedily. */
const SAMPLING = { temperature: 2, maxNewTokens: 16 };

/**
 * The random weights decide where a reply emits <|im_end|>: find a sampling seed whose reply has it
 * after at least one token, decoding with no EOS at all.
 */
async function seedEndingAtImEnd(engine: InferenceEngine, prompt: string) {
  const seeds = Array.from({ length: 200 }, (_, i) => i);
  const streams = engine.generateBatch(
    seeds.map((seed) => ({ prompt, ...SAMPLING, seed, eosTokenIds: [] })),
  );
  const results = await Promise.all(streams.map((s) => s.result));
  const seed = results.findIndex((r) => r.tokenIds.indexOf(IM_END) >= 1);
  assert(seed >= 0, "no seed's reply emits <|im_end|> within 16 tokens");
  const ids = results[seed].tokenIds;
  return { seed, untilImEnd: ids.slice(0, ids.indexOf(IM_END) + 1) };
}

Deno.test({
  name: "a Qwen folder renders ChatML with its own template and ends a chat at <|im_end|>",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await qwenFolder();
    const bundles = await Deno.makeTempDir();
    try {
      const model = await loadModel(dir);
      const tok = model.requireTokenizer();
      assertEquals(SPECIALS.map((s) => tok.tokenToId(s)), [ENDOFTEXT, IM_START, IM_END]);
      assertEquals(tok.encode("Hi é").length, 5, "one token per UTF-8 byte");
      for (
        const messages of [
          MESSAGES,
          [
            { role: "system", content: "Answer briefly." },
            { role: "user", content: "Hi" },
            { role: "assistant", content: "Hello!" },
            { role: "user", content: "Bye" },
          ],
        ]
      ) {
        const rendered = tok.applyChatTemplate(messages);
        assertEquals(rendered, chatml(messages));
        assertEquals(tok.encode(rendered).length, countTokens(rendered));
      }

      const engine = await InferenceEngine.create(model, { executionProvider: "wasm" });
      let expected;
      try {
        assert(engine.eosTokenIds.includes(IM_END), `eos ids ${engine.eosTokenIds}`);
        const prompt = tok.applyChatTemplate(MESSAGES);
        const { seed, untilImEnd } = await seedEndingAtImEnd(engine, prompt);
        // With the folder's own EOS ids, the reply ends at <|im_end|>.
        const ended = await engine.generate({ prompt, ...SAMPLING, seed }).result;
        assertEquals(ended.tokenIds, untilImEnd);
        assertEquals(ended.finishReason, "eos");
        expected = { seed, text: ended.text, tokens: untilImEnd.length };
      } finally {
        await engine.dispose();
      }

      await withServeCli(["--model", dir, "--bundles", bundles, "--ep", "wasm"], async (url) => {
        const body = {
          model: "base",
          messages: MESSAGES,
          max_tokens: SAMPLING.maxNewTokens,
          temperature: SAMPLING.temperature,
          seed: expected.seed,
        };
        const post = (extra: Record<string, unknown>) =>
          fetch(`${url}/v1/chat/completions`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ ...body, ...extra }),
          });
        const chat = await (await post({})).json();
        assertEquals(chat.usage.prompt_tokens, countTokens(chatml(MESSAGES)));
        assertEquals(chat.usage.completion_tokens, expected.tokens);
        assertEquals(chat.choices[0].message.content, expected.text);
        assertEquals(chat.choices[0].finish_reason, "stop");

        const res = await post({ stream: true, stream_options: { include_usage: true } });
        let text = "", finish = null, usage = null;
        for (const line of (await res.text()).split("\n")) {
          if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
          const chunk = JSON.parse(line.slice(6));
          text += chunk.choices[0]?.delta.content ?? "";
          finish = chunk.choices[0]?.finish_reason ?? finish;
          usage = chunk.usage ?? usage;
        }
        assertEquals(text, expected.text);
        assertEquals(finish, "stop");
        assertEquals(usage, chat.usage);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(bundles, { recursive: true });
    }
  },
});
