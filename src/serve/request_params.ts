/**
 * Turning request bodies into generation parameters, with limits. Both the
 * native route (`POST /v1/tasks/:task/generate`) and the OpenAI-compatible
 * one (`POST /v1/completions`) end in the same {@link GenerationParams}.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
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
  /** Answer as server-sent events. */
  stream: boolean;
}

function bad(message: string): PrefixEdgeError {
  return new PrefixEdgeError("INVALID_INPUT", `Cannot accept the request: ${message}`);
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
  if (typeof v !== "number" || !Number.isFinite(v)) throw bad(`'${key}' must be a number`);
  if (integer && !Number.isInteger(v)) throw bad(`'${key}' must be an integer, got ${v}`);
  if (v < min || v > max) throw bad(`'${key}' must be in [${min}, ${max}], got ${v}`);
  return v;
}

function bool(body: Record<string, unknown>, key: string): boolean {
  const v = body[key];
  if (v === undefined || v === null) return false;
  if (typeof v !== "boolean") throw bad(`'${key}' must be true or false`);
  return v;
}

function stops(body: Record<string, unknown>, limits: ServeLimits): string[] {
  const v = body.stop;
  if (v === undefined || v === null) return [];
  const list = typeof v === "string" ? [v] : v;
  if (!Array.isArray(list) || !list.every((s) => typeof s === "string" && s.length > 0)) {
    throw bad("'stop' must be a non-empty string or an array of them");
  }
  if (list.length > limits.maxStop) {
    throw bad(`'stop' holds ${list.length} strings; at most ${limits.maxStop} are allowed`);
  }
  return list as string[];
}

function common(
  body: Record<string, unknown>,
  task: string,
  prompt: string,
  limits: ServeLimits,
  defaultMaxTokens: number,
  defaultTemperature: number,
): GenerationParams {
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
    stop: stops(body, limits),
    stream: bool(body, "stream"),
  };
}

/**
 * Parse the body of `POST /v1/tasks/:task/generate`. Defaults follow HF
 * `generate`: greedy (`temperature` 0) and 64 new tokens.
 *
 * @param body the parsed JSON body
 * @param task the task name from the URL (validated here)
 * @param limits request limits
 * @returns normalized parameters
 * @throws {PrefixEdgeError} `INVALID_INPUT` naming the bad field
 *
 * @example Parse a native request
 * ```ts
 * import { DEFAULT_LIMITS, parseGenerateBody } from "./request_params.ts";
 * const p = parseGenerateBody({ prompt: "Hello", max_tokens: 8 }, "greet", DEFAULT_LIMITS);
 * console.log(p.maxTokens, p.temperature); // 8 0
 * ```
 */
export function parseGenerateBody(
  body: Record<string, unknown>,
  task: string,
  limits: ServeLimits,
): GenerationParams {
  validateTaskName(task);
  if (typeof body.prompt !== "string") throw bad("'prompt' must be a string");
  return common(body, task, body.prompt, limits, 64, 0);
}

/**
 * Parse the body of `POST /v1/completions` (OpenAI's legacy completions).
 * `model` names the task (`base` = no prefix); `prompt` is a string or a
 * one-element array; `n` and `best_of` must be 1 and `echo`/`logprobs` are
 * not supported. Defaults follow OpenAI: 16 tokens, temperature 1.
 *
 * @param body the parsed JSON body
 * @param limits request limits
 * @returns normalized parameters
 * @throws {PrefixEdgeError} `INVALID_INPUT` naming the bad field
 *
 * @example Parse an OpenAI request
 * ```ts
 * import { DEFAULT_LIMITS, parseCompletionBody } from "./request_params.ts";
 * const p = parseCompletionBody({ model: "greet", prompt: "Hi", temperature: 0 }, DEFAULT_LIMITS);
 * console.log(p.task, p.maxTokens); // greet 16
 * ```
 */
export function parseCompletionBody(
  body: Record<string, unknown>,
  limits: ServeLimits,
): GenerationParams {
  if (typeof body.model !== "string") throw bad("'model' must name a task (or 'base')");
  const task = validateTaskName(body.model);
  let prompt = body.prompt;
  if (Array.isArray(prompt)) {
    if (prompt.length !== 1) throw bad("'prompt' as an array must hold exactly one string");
    prompt = prompt[0];
  }
  if (typeof prompt !== "string") throw bad("'prompt' must be a string");
  for (const key of ["n", "best_of"]) {
    if (body[key] !== undefined && body[key] !== null && body[key] !== 1) {
      throw bad(`'${key}' must be 1 (one completion per request)`);
    }
  }
  if (body.echo === true) throw bad("'echo' is not supported");
  if (body.logprobs !== undefined && body.logprobs !== null) {
    throw bad("'logprobs' is not supported");
  }
  return common(body, task, prompt, limits, 16, 1);
}
