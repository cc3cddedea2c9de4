/**
 * Turning request bodies into generation parameters, with limits. Both the
 * native route (`POST /v1/tasks/:task/generate`) and the OpenAI-compatible
 * one (`POST /v1/completions`) end in the same {@link GenerationParams}.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import { formatTaskPrompt, type TaskUsage } from "../bundle/mod.ts";
import type { ChatMessage } from "../model/mod.ts";
import { validateTaskName } from "./task_name.ts";

/** Request-size limits. */
export interface ServeLimits {
  /** Largest JSON body for generation routes (default 64 KiB). */
  maxBodyBytes: number;
  /** Largest bundle upload (default 64 MiB). */
  maxUploadBytes: number;
  /** Largest `max_tokens` (default 512). */
  maxTokens: number;
  /** Most prompt tokens, on top of the context check (default: no extra limit). */
  maxPromptTokens: number;
  /** Most stop strings (default 4, like OpenAI). */
  maxStop: number;
  /** Widest beam (default 8). */
  maxBeams: number;
}

/** Default limits. */
export const DEFAULT_LIMITS: ServeLimits = {
  maxBodyBytes: 64 * 1024,
  maxUploadBytes: 64 * 1024 * 1024,
  maxTokens: 512,
  maxPromptTokens: Number.MAX_SAFE_INTEGER,
  maxStop: 4,
  maxBeams: 8,
};

/** Normalized generation parameters for one request. */
export interface GenerationParams {
  /** The task (validated name) or `base`. */
  task: string;
  /** The prompt text. */
  prompt: string;
  /** Upper bound on new tokens. */
  maxTokens: number;
  /** 0 = greedy. */
  temperature: number;
  /** Nucleus cut-off (1 = off). */
  topP: number;
  /** Top-k cut-off (0 = off). */
  topK: number;
  /** Sampling seed. */
  seed?: number;
  /** Beam width. */
  numBeams: number;
  /** Stop strings. */
  stop: string[];
  /** The task's own end tokens (from its bundle), added to the engine's EOS ids. */
  eosTokenIds?: number[];
  /** Answer as server-sent events. */
  stream: boolean;
}

function bad(message: string, param?: string): PrefixEdgeError {
  return new PrefixEdgeError("INVALID_INPUT", `Cannot accept the request: ${message}`, { param });
}

function num(
  body: Record<string, unknown>,
  key: string,
  dflt: number,
  min: number,
  max: number,
  integer = false,
): number {
  const v = body[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== "number" || !Number.isFinite(v)) throw bad(`'${key}' must be a number`, key);
  if (integer && !Number.isInteger(v)) throw bad(`'${key}' must be an integer, got ${v}`, key);
  if (v < min || v > max) throw bad(`'${key}' must be in [${min}, ${max}], got ${v}`, key);
  return v;
}

function bool(body: Record<string, unknown>, key: string): boolean {
  const v = body[key];
  if (v === undefined || v === null) return false;
  if (typeof v !== "boolean") throw bad(`'${key}' must be true or false`, key);
  return v;
}

function stops(body: Record<string, unknown>, limits: ServeLimits, dflt: string[]): string[] {
  const v = body.stop;
  if (v === undefined || v === null) return [...dflt];
  const list = typeof v === "string" ? [v] : v;
  if (!Array.isArray(list) || !list.every((s) => typeof s === "string" && s.length > 0)) {
    throw bad("'stop' must be a non-empty string or an array of them", "stop");
  }
  if (list.length > limits.maxStop) {
    throw bad(`'stop' holds ${list.length} strings; at most ${limits.maxStop} are allowed`, "stop");
  }
  return list as string[];
}

/**
 * The parameters every route shares. What a request leaves out comes from the task's bundle
 * (`usage.generation`, as vLLM applies a model's generation_config.json), else the route's
 * defaults.
 */
function common(
  body: Record<string, unknown>,
  task: string,
  prompt: string,
  limits: ServeLimits,
  routeMaxTokens: number,
  routeTemperature: number,
  usage: TaskUsage,
): GenerationParams {
  const g = usage.generation;
  const defaultMaxTokens = g?.maxNewTokens ?? routeMaxTokens;
  const defaultTemperature = g?.temperature ?? routeTemperature;
  const seed = body.seed === undefined || body.seed === null
    ? undefined
    : num(body, "seed", 0, 0, 2 ** 32 - 1, true);
  return {
    task,
    prompt,
    maxTokens: num(
      body,
      "max_tokens",
      Math.min(defaultMaxTokens, limits.maxTokens),
      1,
      limits.maxTokens,
      true,
    ),
    temperature: num(body, "temperature", defaultTemperature, 0, 2),
    topP: num(body, "top_p", 1, 0, 1),
    topK: num(body, "top_k", 0, 0, 1_000_000, true),
    seed,
    numBeams: num(body, "num_beams", 1, 1, limits.maxBeams, true),
    stop: stops(body, limits, g?.stop ?? []),
    ...(g?.eosTokenIds.length ? { eosTokenIds: [...g.eosTokenIds] } : {}),
    stream: bool(body, "stream"),
  };
}

/**
 * Parse the body of `POST /v1/tasks/:task/generate`. Defaults are the task's (its bundle's
 * generation defaults), else HF `generate`'s: greedy (`temperature` 0) and 64 new tokens. A
 * prompt without the task's separator gets it appended.
 *
 * @param body the parsed JSON body
 * @param task the task name from the URL (validated here)
 * @param limits request limits
 * @param usage the task's prompt layout and generation defaults (none for `base`)
 * @returns normalized parameters
 * @throws {PrefixEdgeError} `INVALID_INPUT` naming the bad field
 *
 * @example Parse a native request
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { DEFAULT_LIMITS, parseGenerateBody } from "./request_params.ts";
 * const p = parseGenerateBody({ prompt: "Hello", max_tokens: 8 }, "greet", DEFAULT_LIMITS);
 * assertEquals([p.maxTokens, p.temperature], [8, 0]);
 * ```
 */
export function parseGenerateBody(
  body: Record<string, unknown>,
  task: string,
  limits: ServeLimits,
  usage: TaskUsage = {},
): GenerationParams {
  validateTaskName(task);
  if (typeof body.prompt !== "string") throw bad("'prompt' must be a string", "prompt");
  return common(body, task, formatTaskPrompt(body.prompt, usage.prompt), limits, 64, 0, usage);
}

/**
 * Parse the body of `POST /v1/completions` (OpenAI's legacy completions).
 * `model` names the task (`base` = no prefix); `prompt` is a string or a
 * one-element array; `n` and `best_of` must be 1 and `echo`/`logprobs` are
 * not supported. Defaults are the task's (its bundle's generation defaults), else OpenAI's: 16
 * tokens, temperature 1. A prompt without the task's separator gets it appended.
 *
 * @param body the parsed JSON body
 * @param limits request limits
 * @param usage the task's prompt layout and generation defaults (none for `base`)
 * @returns normalized parameters
 * @throws {PrefixEdgeError} `INVALID_INPUT` naming the bad field
 *
 * @example Parse an OpenAI request
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { DEFAULT_LIMITS, parseCompletionBody } from "./request_params.ts";
 * const p = parseCompletionBody({ model: "greet", prompt: "Hi", temperature: 0 }, DEFAULT_LIMITS);
 * assertEquals([p.task, p.maxTokens], ["greet", 16]);
 * ```
 */
export function parseCompletionBody(
  body: Record<string, unknown>,
  limits: ServeLimits,
  usage: TaskUsage = {},
): GenerationParams {
  const task = requestedTask(body);
  let prompt = body.prompt;
  if (Array.isArray(prompt)) {
    if (prompt.length !== 1) {
      throw bad("'prompt' as an array must hold exactly one string", "prompt");
    }
    prompt = prompt[0];
  }
  if (typeof prompt !== "string") throw bad("'prompt' must be a string", "prompt");
  onlyOne(body, ["n", "best_of"]);
  if (body.echo === true) throw bad("'echo' is not supported", "echo");
  if (body.logprobs !== undefined && body.logprobs !== null) {
    throw bad("'logprobs' is not supported", "logprobs");
  }
  return common(body, task, formatTaskPrompt(prompt, usage.prompt), limits, 16, 1, usage);
}

/**
 * The task an OpenAI-style body names in `model` (`base` = no prefix), validated.
 *
 * @param body the parsed JSON body
 * @returns the task name
 * @throws {PrefixEdgeError} `INVALID_INPUT` with `param: "model"`
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert";
 * import { requestedTask } from "./request_params.ts";
 * strictEqual(requestedTask({ model: "pet-stories" }), "pet-stories");
 * ```
 */
export function requestedTask(body: Record<string, unknown>): string {
  if (typeof body.model !== "string") throw bad("'model' must name a task (or 'base')", "model");
  try {
    return validateTaskName(body.model);
  } catch (e) {
    throw new PrefixEdgeError("INVALID_INPUT", (e as Error).message, { param: "model" });
  }
}

function onlyOne(body: Record<string, unknown>, keys: string[]): void {
  for (const key of keys) {
    if (body[key] !== undefined && body[key] !== null && body[key] !== 1) {
      throw bad(`'${key}' must be 1 (one completion per request)`, key);
    }
  }
}

/** Chat roles that chat templates know. */
const CHAT_ROLES = new Set(["system", "developer", "user", "assistant", "tool"]);

/** A message's content: a string, or OpenAI's list of parts of which only text parts are taken. */
function messageText(content: unknown, i: number): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content.map((part) => {
      if (part?.type !== "text" || typeof part.text !== "string") {
        throw bad(`messages[${i}].content: only text parts are supported`, "messages");
      }
      return part.text;
    }).join("");
  }
  throw bad(`messages[${i}].content must be a string or a list of text parts`, "messages");
}

/**
 * Parse the body of `POST /v1/chat/completions` (OpenAI's chat completions). `model` names the
 * task (`base` = no prefix). A task whose bundle records its prompt layout gets the last user
 * message as its input, laid out as it was trained; otherwise `messages` is rendered to a prompt
 * by `render` (the model's chat template, or the plain fallback). `n` must be 1; tools and
 * logprobs are not supported. `max_completion_tokens` and the older `max_tokens` are both read.
 * Defaults are the task's (its bundle's generation defaults), else OpenAI's: temperature 1, and
 * as many tokens as the server allows (at most 512 by default).
 *
 * @param body the parsed JSON body
 * @param limits request limits
 * @param render turns the messages into the prompt text
 * @param usage the task's prompt layout and generation defaults (none for `base`)
 * @returns normalized parameters, with the rendered prompt
 * @throws {PrefixEdgeError} `INVALID_INPUT` naming the bad field in `param`
 *
 * @example Parse a chat request
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { applyChatTemplate } from "../model/mod.ts";
 * import { DEFAULT_LIMITS, parseChatBody } from "./request_params.ts";
 * const p = parseChatBody(
 *   { model: "base", messages: [{ role: "user", content: "Hi" }], max_completion_tokens: 8 },
 *   DEFAULT_LIMITS,
 *   (messages) => applyChatTemplate({}, messages),
 * );
 * assertEquals([p.prompt, p.maxTokens], ["User: Hi\nAssistant:", 8]);
 * ```
 */
export function parseChatBody(
  body: Record<string, unknown>,
  limits: ServeLimits,
  render: (messages: ChatMessage[]) => string,
  usage: TaskUsage = {},
): GenerationParams {
  const task = requestedTask(body);
  const raw = body.messages;
  if (!Array.isArray(raw) || raw.length === 0) {
    throw bad("'messages' must be a non-empty list of {role, content}", "messages");
  }
  const messages = raw.map((m, i): ChatMessage => {
    if (m === null || typeof m !== "object" || typeof m.role !== "string") {
      throw bad(`messages[${i}] must be an object with a 'role'`, "messages");
    }
    if (!CHAT_ROLES.has(m.role)) {
      throw bad(
        `messages[${i}].role '${String(m.role).slice(0, 40)}' is not one of ${
          [...CHAT_ROLES].join(", ")
        }`,
        "messages",
      );
    }
    return { role: m.role, content: messageText(m.content, i) };
  });
  onlyOne(body, ["n"]);
  for (const key of ["tools", "functions"]) {
    const v = body[key];
    if (v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0)) {
      throw bad(`'${key}' is not supported (no tool calling)`, key);
    }
  }
  if (body.logprobs === true) throw bad("'logprobs' is not supported", "logprobs");
  const max = body.max_completion_tokens ?? body.max_tokens;
  let prompt: string;
  if (usage.prompt) {
    // A task prefix was trained on `input + separator`, not on a chat transcript.
    const last = messages.findLast((m) => m.role === "user");
    if (!last) throw bad("'messages' holds no user message to use as the task's input", "messages");
    prompt = formatTaskPrompt(last.content, usage.prompt);
  } else prompt = render(messages);
  return common({ ...body, max_tokens: max }, task, prompt, limits, limits.maxTokens, 1, usage);
}
