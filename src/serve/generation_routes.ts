/**
 * The generation routes: `POST /v1/tasks/:task/generate` (native shape),
 * `POST /v1/completions` and `POST /v1/chat/completions` (OpenAI-compatible,
 * `model` = task name or `base`). All validate, resolve the task, check the
 * context budget, queue the row on the scheduler and answer as JSON or as
 * server-sent events.
 *
 * @module
 */
import type { Hono } from "hono";
import { PrefixEdgeError } from "../errors/mod.ts";
import type { ServeContext } from "./serve_context.ts";
import type { FinishReason } from "../infer/mod.ts";
import type { RowResult } from "./engine_port.ts";
import { errorBody } from "./error_response.ts";
import { readJsonBody } from "./read_body.ts";
import { applyChatTemplate, type ChatMessage } from "../model/mod.ts";
import {
  type GenerationParams,
  parseChatBody,
  parseCompletionBody,
  parseGenerateBody,
  requestedTask,
} from "./request_params.ts";
import { taskEosTokenIds, type TaskUsage, taskUsageOf } from "../bundle/mod.ts";
import type { TaskEntry } from "./task_registry.ts";
import type { ScheduledRow } from "./scheduler.ts";
import { sseResponse } from "./sse.ts";
import { BASE_TASK } from "./task_name.ts";

/** A queued generation, ready to be answered. */
interface Started {
  row: ScheduledRow;
  promptTokens: number;
  started: number;
  /** Aborts the row (client gone). */
  abort: () => void;
}

/**
 * The task's bundle (null for `base`), and how it is to be used. The entry is held for the whole
 * request: an upload or eviction meanwhile does not change the prefix this row runs with.
 */
async function resolveTask(
  ctx: ServeContext,
  task: string,
): Promise<{ entry: TaskEntry | null; usage: TaskUsage }> {
  const entry = task === BASE_TASK ? null : await ctx.registry.get(task);
  return { entry, usage: entry ? taskUsageOf(entry.manifest) : {} };
}

/** Check the context budget and queue the row. */
function start(
  ctx: ServeContext,
  params: GenerationParams,
  entry: TaskEntry | null,
  req: Request,
): Started {
  const started = performance.now();
  const prefixLen = entry?.prefix.prefixLen ?? 0;
  // An empty prompt is legal (the engine starts from BOS), so it counts as one position.
  const promptTokens = Math.max(1, ctx.engine.countTokens(params.prompt));
  if (promptTokens > ctx.limits.maxPromptTokens) {
    throw new PrefixEdgeError(
      "CONTEXT_OVERFLOW",
      `Cannot generate: the prompt takes ${promptTokens} tokens; this server accepts at most ${ctx.limits.maxPromptTokens}`,
    );
  }
  const left = ctx.engine.contextLeft(prefixLen);
  if (promptTokens + params.maxTokens > left) {
    throw new PrefixEdgeError(
      "CONTEXT_OVERFLOW",
      `Cannot generate: the prompt (${promptTokens} tokens) plus max_tokens (${params.maxTokens}) exceeds the ${left} positions that ${
        entry ? `task '${params.task}' (prefix of ${prefixLen})` : "the base model"
      } leaves`,
    );
  }
  const controller = new AbortController();
  const row = ctx.scheduler.submit({
    task: params.task,
    prefix: entry?.prefix ?? null,
    options: {
      prompt: params.prompt,
      maxNewTokens: params.maxTokens,
      temperature: params.temperature,
      topP: params.topP,
      topK: params.topK,
      seed: params.seed,
      numBeams: params.numBeams,
      stop: params.stop,
      ...(params.eosTokenIds
        ? {
          eosTokenIds: taskEosTokenIds(params.eosTokenIds, ctx.engine.eosTokenIds ?? []),
        }
        : {}),
    },
    signal: controller.signal,
  });
  // A client that disconnects aborts the request's signal (JSON answers); an
  // SSE answer also aborts through the stream's cancel() (see sse.ts).
  const onClientGone = () => controller.abort();
  req.signal?.addEventListener("abort", onClientGone, { once: true });
  if (req.signal?.aborted) controller.abort();
  row.result.finally(() => req.signal?.removeEventListener("abort", onClientGone)).catch(() => {});
  ctx.metrics.tokens.inc({ kind: "prompt" }, promptTokens);
  return { row, promptTokens, started, abort: () => controller.abort() };
}

/** Token counts as the engine reports them (its prompt count, not the server's estimate). */
function usage(result: RowResult) {
  return {
    prompt_tokens: result.promptTokens,
    completion_tokens: result.tokenIds.length,
    total_tokens: result.promptTokens + result.tokenIds.length,
  };
}

/** The paths whose answers follow OpenAI's API (error code names included). */
export const OPENAI_PATHS: readonly string[] = ["/v1/completions", "/v1/chat/completions"];

/**
 * OpenAI's finish reasons for text: "stop" (EOS or a stop string) and "length". A cancelled row
 * has no reader left (the client went away), so it reports "stop" like any other early end.
 */
function openAiFinish(reason: FinishReason): "stop" | "length" {
  return reason === "length" ? "length" : "stop";
}

/** `stream_options.include_usage`: a last chunk with the token counts. */
function includeUsage(body: Record<string, unknown>): boolean {
  return (body.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true;
}

function finishMetrics(ctx: ServeContext, s: Started, route: string, result?: RowResult) {
  if (result) {
    ctx.metrics.tokens.inc({ kind: "completion" }, result.tokenIds.length);
    const drafted = result.draftedTokens ?? 0, accepted = result.acceptedDraftTokens ?? 0;
    if (drafted > 0) {
      ctx.metrics.draftTokens.inc({ result: "accepted" }, accepted);
      ctx.metrics.draftTokens.inc({ result: "rejected" }, drafted - accepted);
    }
  }
  ctx.metrics.requestSeconds.observe((performance.now() - s.started) / 1000, { route });
}

/**
 * Register the generation routes on an app.
 *
 * @param app the Hono app
 * @param ctx engine, registry, scheduler, metrics and limits
 */
export function addGenerationRoutes(app: Hono, ctx: ServeContext): void {
  app.post("/v1/tasks/:task/generate", async (c) => {
    const body = await readJsonBody(c.req.raw, ctx.limits.maxBodyBytes);
    const task = c.req.param("task");
    parseGenerateBody(body, task, ctx.limits); // a bad request fails before any bundle is read
    const { entry, usage: taskUse } = await resolveTask(ctx, task);
    const params = parseGenerateBody(body, task, ctx.limits, taskUse);
    const s = start(ctx, params, entry, c.req.raw);
    const route = "generate";
    if (!params.stream) {
      const result = await s.row.result;
      finishMetrics(ctx, s, route, result);
      return c.json({
        task: params.task,
        text: result.text,
        token_ids: result.tokenIds,
        finish_reason: result.finishReason,
        usage: usage(result),
      });
    }
    return sseResponse(async (sink) => {
      try {
        for await (const t of s.row.tokens) {
          sink.send({ index: t.index, token_id: t.tokenId, text: t.text }, "token");
        }
        const result = await s.row.result;
        finishMetrics(ctx, s, route, result);
        sink.send({
          task: params.task,
          text: result.text,
          finish_reason: result.finishReason,
          usage: usage(result),
        }, "done");
      } catch (e) {
        finishMetrics(ctx, s, route);
        sink.send(errorBody(e).body, "error");
      }
    }, s.abort);
  });

  app.post("/v1/completions", async (c) => {
    const body = await readJsonBody(c.req.raw, ctx.limits.maxBodyBytes);
    parseCompletionBody(body, ctx.limits); // a bad request fails before any bundle is read
    const { entry, usage: taskUse } = await resolveTask(ctx, requestedTask(body));
    const params = parseCompletionBody(body, ctx.limits, taskUse);
    const wantUsage = includeUsage(body);
    const s = start(ctx, params, entry, c.req.raw);
    const route = "completions";
    const id = `cmpl-${crypto.randomUUID().replaceAll("-", "")}`;
    const created = Math.floor(Date.now() / 1000);
    const chunk = (text: string, finish: string | null) => ({
      id,
      object: "text_completion",
      created,
      model: params.task,
      choices: [{ text, index: 0, logprobs: null, finish_reason: finish }],
    });
    if (!params.stream) {
      const result = await s.row.result;
      finishMetrics(ctx, s, route, result);
      return c.json({
        ...chunk(result.text, openAiFinish(result.finishReason)),
        usage: usage(result),
      });
    }
    return sseResponse(async (sink) => {
      try {
        for await (const t of s.row.tokens) sink.send(chunk(t.text, null));
        const result = await s.row.result;
        finishMetrics(ctx, s, route, result);
        sink.send(chunk("", openAiFinish(result.finishReason)));
        if (wantUsage) {
          sink.send({ ...chunk("", null), choices: [], usage: usage(result) });
        }
      } catch (e) {
        finishMetrics(ctx, s, route);
        sink.send(errorBody(e, { openai: true }).body);
      }
      sink.send("[DONE]");
    }, s.abort);
  });

  app.post("/v1/chat/completions", async (c) => {
    const body = await readJsonBody(c.req.raw, ctx.limits.maxBodyBytes);
    const tokenizer = ctx.engine.tokenizer;
    const render = (messages: ChatMessage[]) =>
      tokenizer ? tokenizer.applyChatTemplate(messages) : applyChatTemplate({}, messages);
    parseChatBody(body, ctx.limits, render); // a bad request fails before any bundle is read
    const { entry, usage: taskUse } = await resolveTask(ctx, requestedTask(body));
    const params = parseChatBody(body, ctx.limits, render, taskUse);
    const wantUsage = includeUsage(body);
    const s = start(ctx, params, entry, c.req.raw);
    const route = "chat";
    const id = `chatcmpl-${crypto.randomUUID().replaceAll("-", "")}`;
    const created = Math.floor(Date.now() / 1000);
    const head = { id, created, model: params.task, system_fingerprint: null };
    if (!params.stream) {
      const result = await s.row.result;
      finishMetrics(ctx, s, route, result);
      return c.json({
        ...head,
        object: "chat.completion",
        choices: [{
          index: 0,
          message: { role: "assistant", content: result.text, refusal: null },
          logprobs: null,
          finish_reason: openAiFinish(result.finishReason),
        }],
        usage: usage(result),
      });
    }
    const chunk = (delta: Record<string, string>, finish: string | null) => ({
      ...head,
      object: "chat.completion.chunk",
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    });
    return sseResponse(async (sink) => {
      try {
        sink.send(chunk({ role: "assistant", content: "" }, null));
        for await (const t of s.row.tokens) {
          if (t.text) sink.send(chunk({ content: t.text }, null));
        }
        const result = await s.row.result;
        finishMetrics(ctx, s, route, result);
        sink.send(chunk({}, openAiFinish(result.finishReason)));
        if (wantUsage) {
          sink.send({
            ...head,
            object: "chat.completion.chunk",
            choices: [],
            usage: usage(result),
          });
        }
      } catch (e) {
        finishMetrics(ctx, s, route);
        sink.send(errorBody(e, { openai: true }).body);
      }
      sink.send("[DONE]");
    }, s.abort);
  });
}
