/**
 * Server-sent events. A small writer over a `ReadableStream` rather than a
 * framework helper, so that a client going away reaches the generation as an
 * abort: the stream's `cancel()` fires `onCancel`, which the routes wire to
 * the row's `AbortSignal`.
 *
 * @module
 */

/** Writes events into an SSE response. */
export interface SseSink {
  /**
   * Send one event. `data` that is not a string is sent as JSON.
   * @param data the payload
   * @param event optional event name (`event:` line)
   */
  send(data: unknown, event?: string): void;
  /** Whether the client has gone (sends are then dropped). */
  readonly closed: boolean;
}

const encoder = new TextEncoder();

/**
 * Format one SSE frame. Multi-line strings become several `data:` lines, as
 * the SSE spec requires.
 *
 * @param data payload (JSON-encoded unless a string)
 * @param event optional event name
 * @returns the frame text, ending in a blank line
 *
 * @example Format a frame
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { formatSseEvent } from "./sse.ts";
 * assertEquals(formatSseEvent({ a: 1 }, "token"), "event: token\ndata: {\"a\":1}\n\n");
 * ```
 */
export function formatSseEvent(data: unknown, event?: string): string {
  const text = typeof data === "string" ? data : JSON.stringify(data);
  const head = event ? `event: ${event}\n` : "";
  return `${head}${text.split(/\r?\n/).map((l) => `data: ${l}`).join("\n")}\n\n`;
}

/**
 * Build an SSE response whose events come from `run`.
 *
 * @param run writes events; the stream closes when it settles (a rejection is
 *   the caller's to turn into an error event first)
 * @param onCancel called once if the client disconnects before `run` ends
 * @returns a `text/event-stream` response
 *
 * @example Stream three events
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { sseResponse } from "./sse.ts";
 * const res = sseResponse(async (sink) => {
 *   for (const n of [1, 2, 3]) sink.send({ n });
 * }, () => {});
 * assertEquals((await res.text()).split("\n\n").length, 4);
 * ```
 */
export function sseResponse(run: (sink: SseSink) => Promise<void>, onCancel: () => void): Response {
  let closed = false;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const sink: SseSink = {
        send(data, event) {
          if (closed) return;
          controller.enqueue(encoder.encode(formatSseEvent(data, event)));
        },
        get closed() {
          return closed;
        },
      };
      run(sink).catch(() => {}).finally(() => {
        if (closed) return;
        closed = true;
        controller.close();
      });
    },
    cancel() {
      if (closed) return;
      closed = true;
      onCancel();
    },
  });
  return new Response(body, {
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      "connection": "keep-alive",
      // Proxies such as nginx buffer responses unless told not to.
      "x-accel-buffering": "no",
    },
  });
}
