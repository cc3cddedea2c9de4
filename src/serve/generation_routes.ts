/**
 * The generation routes: `POST /v1/tasks/:task/generate` (native shape) and
 * `POST /v1/completions` (OpenAI-compatible, `model` = task name or `base`).
 * Both validate, resolve the task, check the context budget, queue the row
 * on the scheduler and answer as JSON or as server-sent events.
 *
 * @module
 */
import type { Hono } from "hono";
import { PrefixEdgeError } from "../errors/mod.ts";
import type { ServeContext } from "./_serve_context.ts";
import type { FinishReason } from "../infer/mod.ts";
import type { RowResult } from "./engine_port.ts";
import { errorBody } from "./error_response.ts";
import { readJsonBody } from "./read_body.ts";
import { type GenerationParams, parseCompletionBody, parseGenerateBody } from "./request_params.ts";
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

/** Resolve the task, check the context budget and queue the row. */
async function start(
  ctx: ServeContext,
  params: GenerationParams,
  req: Request,
): Promise<Started> {
  const started = performance.now();
  // The entry is held for the whole request: an upload or eviction meanwhile
  // does not change the prefix this row runs with.
  const entry = params.task === BASE_TASK ? null : await ctx.registry.get(params.task);
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

/** OpenAI has two finish reasons for completions: "stop" (EOS or a stop string) and "length". */
function openAiFinish(reason: FinishReason): string {
  return reason === "length" ? "length" : reason === "cancelled" ? "cancelled" : "stop";
}

function finishMetrics(ctx: ServeContext, s: Started, route: string, result?: RowResult) {
  if (result) ctx.metrics.tokens.inc({ kind: "completion" }, result.tokenIds.length);
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
    const params = parseGenerateBody(body, c.req.param("task"), ctx.limits);
    const s = await start(ctx, params, c.req.raw);
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
    const params = parseCompletionBody(body, ctx.limits);
    const includeUsage = (body.stream_options as { include_usage?: unknown } | undefined)
      ?.include_usage === true;
    const s = await start(ctx, params, c.req.raw);
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
        if (includeUsage) {
          sink.send({ ...chunk("", null), choices: [], usage: usage(result) });
        }
      } catch (e) {
        finishMetrics(ctx, s, route);
        sink.send(errorBody(e).body);
      }
      sink.send("[DONE]");
    }, s.abort);
  });
}
