/**
 * Chat prompts: a list of messages rendered to one prompt string with the model's own
 * `chat_template` (from tokenizer_config.json, a Jinja template, rendered by
 * `@huggingface/jinja` as transformers.js does), or with {@link PLAIN_CHAT_FORMAT} when the
 * model has none.
 *
 * @module
 */
import { Template } from "@huggingface/jinja";
import { PrefixEdgeError } from "../errors/mod.ts";

/** One chat message. */
export interface ChatMessage {
  /** Who speaks: `system`, `user`, `assistant` (and `developer` or `tool`, if the template knows them). */
  role: string;
  /** What they say. */
  content: string;
}

/** What a chat template needs from a tokenizer. */
export interface ChatTemplateSource {
  /** The Jinja template from tokenizer_config.json, if the model has one. */
  chatTemplate?: string;
  /** The BOS token's text (the template's `bos_token`). */
  bosToken?: string;
  /** The EOS token's text (the template's `eos_token`). */
  eosToken?: string;
  /** Whether encoding adds BOS itself; a rendered leading BOS is then dropped to avoid two. */
  addBosToken?: boolean;
}

/**
 * The fallback for models without a `chat_template`: a system message first (as is), then
 * `User: ...` and `Assistant: ...` lines, ending with `Assistant:` for the reply. Documented in
 * docs/serving.md.
 */
export const PLAIN_CHAT_FORMAT = "plain" as const;

function plainChat(messages: ChatMessage[]): string {
  const lines: string[] = [];
  for (const m of messages) {
    if (m.role === "system" || m.role === "developer") lines.push(m.content, "");
    else lines.push(`${m.role === "assistant" ? "Assistant" : "User"}: ${m.content}`);
  }
  lines.push("Assistant:");
  return lines.join("\n");
}

/**
 * Pick the default template from tokenizer_config.json's `chat_template`, which is a string or a
 * list of `{name, template}` (HF's named templates).
 *
 * @param value the `chat_template` field
 * @returns the template text, if there is one
 *
 * @example Read a named template list
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { chatTemplateFromConfig } from "./chat_template.ts";
 * const t = chatTemplateFromConfig([{ name: "default", template: "{{ messages[0].content }}" }]);
 * assertEquals(t, "{{ messages[0].content }}");
 * ```
 */
export function chatTemplateFromConfig(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    const named = value.find((t) => t?.name === "default") ?? value[0];
    return typeof named?.template === "string" ? named.template : undefined;
  }
  return undefined;
}

/**
 * Render chat messages to a prompt, ready for the assistant's reply.
 *
 * @param source the template and special tokens (a `TextTokenizer` is one)
 * @param messages the conversation so far
 * @returns the prompt text
 * @throws {PrefixEdgeError} `CONFIG_INVALID` when the model's template does not parse, or
 *   `INVALID_INPUT` when it refuses the messages (templates raise on a bad role order)
 *
 * @example Render with a template, and without one
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { applyChatTemplate } from "./chat_template.ts";
 * const messages = [{ role: "user", content: "Hi" }];
 * const chatTemplate =
 *   "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}";
 * assertEquals(applyChatTemplate({ chatTemplate }, messages), "<|user|>Hi<|assistant|>");
 * assertEquals(applyChatTemplate({}, messages), "User: Hi\nAssistant:");
 * ```
 */
export function applyChatTemplate(source: ChatTemplateSource, messages: ChatMessage[]): string {
  if (!source.chatTemplate) return plainChat(messages);
  let template: Template;
  try {
    template = new Template(source.chatTemplate);
  } catch (e) {
    throw new PrefixEdgeError(
      "CONFIG_INVALID",
      `Cannot use the model's chat_template: ${(e as Error).message}`,
      { cause: e },
    );
  }
  let text: string;
  try {
    text = template.render({
      messages,
      add_generation_prompt: true,
      bos_token: source.bosToken ?? "",
      eos_token: source.eosToken ?? "",
    });
  } catch (e) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      `Cannot render the chat: the model's chat_template refused the messages (${
        (e as Error).message
      })`,
      { cause: e, param: "messages" },
    );
  }
  // The prompt is encoded with the tokenizer's special tokens, as a completion prompt is.
  if (source.addBosToken && source.bosToken && text.startsWith(source.bosToken)) {
    text = text.slice(source.bosToken.length);
  }
  return text;
}
