/**
 * Text <-> token ids through `@huggingface/tokenizers` (the tokenizer of
 * transformers.js: pure JS, no native code, runs on Deno Deploy). Special
 * tokens come from `tokenizer_config.json` when present.
 *
 * @module
 */
import { Tokenizer } from "@huggingface/tokenizers";
import { PrefixEdgeError } from "../errors/mod.ts";
import { concatBytes, sha256Hex } from "./bytes.ts";
import {
  applyChatTemplate,
  type ChatMessage,
  chatTemplateFromConfig,
  type ChatTemplateSource,
} from "./chat_template.ts";

/** A loaded tokenizer plus the special ids the decode loop needs. */
export class TextTokenizer implements ChatTemplateSource {
  #tok: Tokenizer;
  /** BOS id, if the tokenizer has one. */
  readonly bosTokenId?: number;
  /** EOS id, if the tokenizer has one. */
  readonly eosTokenId?: number;
  /** Whether `encode` prepends BOS by default (Llama: yes, GPT-2: no). */
  readonly addBosToken: boolean;
  /** sha256 over tokenizer.json and tokenizer_config.json bytes, hex. */
  readonly fingerprint: string;
  /** The Jinja chat template from tokenizer_config.json, if the model has one. */
  readonly chatTemplate?: string;
  /** BOS as text (the chat template's `bos_token`). */
  readonly bosToken?: string;
  /** EOS as text (the chat template's `eos_token`). */
  readonly eosToken?: string;

  private constructor(
    tok: Tokenizer,
    config: Record<string, unknown>,
    fingerprint: string,
  ) {
    this.#tok = tok;
    this.fingerprint = fingerprint;
    this.bosTokenId = specialId(tok, config.bos_token);
    this.eosTokenId = specialId(tok, config.eos_token);
    this.addBosToken = config.add_bos_token === true;
    this.chatTemplate = chatTemplateFromConfig(config.chat_template);
    this.bosToken = specialText(config.bos_token);
    this.eosToken = specialText(config.eos_token);
  }

  /**
   * Render chat messages to a prompt with the model's chat template, or the plain fallback
   * (see {@link applyChatTemplate}).
   *
   * @param messages the conversation so far
   * @returns the prompt text, ending where the assistant's reply starts
   */
  applyChatTemplate(messages: ChatMessage[]): string {
    return applyChatTemplate(this, messages);
  }

  /**
   * Build from the two JSON files' bytes.
   *
   * @param tokenizerJson bytes of tokenizer.json
   * @param configJson bytes of tokenizer_config.json, if present
   * @param source folder name for error messages
   * @returns the tokenizer
   * @throws {PrefixEdgeError} `CONFIG_INVALID` if the files do not parse
   */
  static async fromBytes(
    tokenizerJson: Uint8Array,
    configJson: Uint8Array | undefined,
    source: string,
  ): Promise<TextTokenizer> {
    const dec = new TextDecoder();
    let tj: unknown, cj: Record<string, unknown> = {};
    try {
      tj = JSON.parse(dec.decode(tokenizerJson));
      if (configJson) cj = JSON.parse(dec.decode(configJson));
    } catch (e) {
      throw new PrefixEdgeError(
        "CONFIG_INVALID",
        `Cannot load tokenizer from ${source}: ${(e as Error).message}`,
        { cause: e },
      );
    }
    let tok: Tokenizer;
    try {
      tok = new Tokenizer(tj as object, cj);
    } catch (e) {
      throw new PrefixEdgeError(
        "CONFIG_INVALID",
        `Cannot load tokenizer from ${source}: ${(e as Error).message}`,
        { cause: e },
      );
    }
    const fingerprint = await sha256Hex(
      concatBytes([tokenizerJson, configJson ?? new Uint8Array()]),
    );
    return new TextTokenizer(tok, cj, fingerprint);
  }

  /**
   * Encode text to ids.
   *
   * @param text input text
   * @param options `addSpecialTokens` (default true) applies the tokenizer's post-processor (BOS for Llama)
   * @returns token ids
   */
  encode(text: string, options: { addSpecialTokens?: boolean } = {}): number[] {
    return this.#tok.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids;
  }

  /**
   * Decode ids to text.
   *
   * @param ids token ids
   * @param options `skipSpecialTokens` (default true)
   * @returns the text
   */
  decode(ids: number[], options: { skipSpecialTokens?: boolean } = {}): string {
    return this.#tok.decode(ids, { skip_special_tokens: options.skipSpecialTokens ?? true });
  }

  /**
   * Look up a token's id.
   *
   * @param token a token string as the vocabulary spells it
   * @returns its id, if it is in the vocabulary
   */
  tokenToId(token: string): number | undefined {
    return this.#tok.token_to_id(token);
  }
}

/** A special token's text: tokenizer_config.json writes it as a string or as `{content}`. */
function specialText(entry: unknown): string | undefined {
  return typeof entry === "string"
    ? entry
    : (entry && typeof entry === "object" && "content" in entry)
    ? String((entry as { content: unknown }).content)
    : undefined;
}

function specialId(tok: Tokenizer, entry: unknown): number | undefined {
  const content = specialText(entry);
  return content === undefined ? undefined : tok.token_to_id(content);
}
