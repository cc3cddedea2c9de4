/**
 * Small fakes for the server's tests: a model config, an engine that
 * "generates" a deterministic function of (prefix, prompt, step), and a JSON
 * "bundle" format with a decoder that refuses bad input the way the real one
 * does (typed errors). They let the HTTP, registry and scheduler behaviour be
 * tested without ONNX Runtime; tests/serve/real_engine_test.ts runs the real
 * engine and real bundles.
 */
import { PrefixEdgeError } from "../../src/errors/mod.ts";
import type { ModelConfig, Prefix } from "../../src/model/mod.ts";
import type {
  JoinableBatch,
  RowOptions,
  RowResult,
  RowStream,
  RowToken,
  ServeEngine,
} from "../../src/serve/mod.ts";
import type { DecodedBundle } from "../../src/serve/mod.ts";

/** L=1, H=1, hd=2: S = 2*L*D = 4 values per prefix token; 32 positions. */
export const FAKE_CONFIG: ModelConfig = {
  family: "gpt2",
  modelType: "gpt2",
  numLayers: 1,
  numHeads: 1,
  numKvHeads: 1,
  headDim: 2,
  hiddenSize: 2,
  intermediateSize: 8,
  maxPositions: 32,
  vocabSize: 100,
  normEps: 1e-5,
  activation: "gelu_new",
  tieWordEmbeddings: true,
  qkvBias: false,
  qkNorm: false,
  eosTokenIds: [],
  raw: {},
};

/** A prefix of `P` tokens whose values are all `value` (the fake engine reads `kv[0]`). */
export function fakePrefix(value: number, P = 2): Prefix {
  return { prefixLen: P, kv: new Float32Array(P * 4).fill(value) };
}

/** The bytes of a fake bundle. */
export function fakeBundle(
  task: string,
  value: number,
  P = 2,
  extra: Record<string, unknown> = {},
): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(
    JSON.stringify({ format: "fake", base: "fake-base", task, prefixLen: P, value, ...extra }),
  );
}

/** Decodes fake bundles; refuses non-JSON and other bases with typed errors. */
export function fakeDecode(bytes: Uint8Array): Promise<DecodedBundle> {
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    return Promise.reject(
      new PrefixEdgeError("BUNDLE_CORRUPT", "Cannot read bundle: not a fake bundle", { cause: e }),
    );
  }
  if (m.base !== "fake-base") {
    return Promise.reject(
      new PrefixEdgeError("BASE_MISMATCH", `Cannot use bundle: made for base '${m.base}'`),
    );
  }
  const { value, prefixLen, ...manifest } = m as { value: number; prefixLen: number };
  return Promise.resolve({
    manifest: { ...manifest, prefixLen },
    prefix: fakePrefix(value, prefixLen),
  });
}

/** Token `i` of a row: depends on the prefix, the prompt length and the step. */
export function fakeToken(prefix: Prefix | null | undefined, promptTokens: number, i: number) {
  const sig = prefix ? Math.round(prefix.kv[0]) : 0;
  return (sig * 10 + promptTokens * 3 + i) % 100;
}

/** What the fake engine would generate for one row alone. */
export function fakeText(prefix: Prefix | null, prompt: string, n: number): string {
  const T = prompt.split(/\s+/).filter(Boolean).length;
  let s = "";
  for (let i = 0; i < n; i++) s += ` w${fakeToken(prefix, T, i)}`;
  return s;
}

/** One recorded `generateBatch` call. */
export interface FakeCall {
  rows: RowOptions[];
}

/** A deterministic engine: one "step" per `stepMs`, all rows of a batch in lockstep. */
export class FakeEngine implements ServeEngine {
  readonly config: ModelConfig = FAKE_CONFIG;
  readonly executionProvider = "fake";
  readonly calls: FakeCall[] = [];
  /** Delay per decoding step, ms. */
  stepMs = 0;
  /** Rows for which `generateBatch` throws synchronously (like a bad input). */
  rejectRow: (row: RowOptions) => boolean = () => false;
  /** Rows currently decoding. */
  live = 0;

  countTokens(text: string): number {
    return text.split(/\s+/).filter(Boolean).length;
  }

  contextLeft(prefixLen: number): number {
    return this.config.maxPositions - prefixLen;
  }

  generateBatch(rows: RowOptions[]): RowStream[] {
    for (const row of rows) {
      if (this.rejectRow(row)) {
        throw new PrefixEdgeError("INVALID_INPUT", `Cannot generate: row '${row.prompt}' is bad`);
      }
    }
    this.calls.push({ rows });
    return rows.map((row) => this.run(row));
  }

  /** One row's stream: `maxNewTokens` steps of `stepMs`, independent of other rows. */
  run(row: RowOptions): RowStream {
    const queue: RowToken[] = [];
    let done = false;
    let wake: (() => void) | null = null;
    const notify = () => {
      const w = wake;
      wake = null;
      w?.();
    };
    const T = this.countTokens(row.prompt ?? "");
    const n = row.maxNewTokens ?? 16;
    this.live++;
    const result = (async (): Promise<RowResult> => {
      const ids: number[] = [];
      let text = "";
      let reason: RowResult["finishReason"] = "length";
      try {
        for (let i = 0; i < n; i++) {
          if (this.stepMs) await new Promise((r) => setTimeout(r, this.stepMs));
          else await Promise.resolve();
          if (row.signal?.aborted) {
            reason = "cancelled";
            break;
          }
          const id = fakeToken(row.prefix, T, i);
          ids.push(id);
          text += ` w${id}`;
          queue.push({ tokenId: id, text: ` w${id}`, index: i });
          notify();
        }
      } finally {
        this.live--;
        done = true;
        notify();
      }
      return { tokenIds: ids, text, finishReason: reason, promptTokens: T };
    })();
    return {
      result,
      async *[Symbol.asyncIterator]() {
        while (true) {
          if (queue.length) {
            yield queue.shift()!;
            continue;
          }
          if (done) return;
          await new Promise<void>((r) => (wake = r));
        }
      },
    };
  }
}

/**
 * A fake engine whose batch rows may join while it decodes (the real
 * engine's `openBatch`). Its rows are independent, so joining is just
 * starting the row; `joinable = false` imitates an engine that cannot merge rows (waves).
 */
export class FakeJoinEngine extends FakeEngine {
  /** Rows added through the joinable batch, in order. */
  readonly added: RowOptions[] = [];
  /** What `openBatch().joinable` answers. */
  joinable = true;

  openBatch(): JoinableBatch {
    return {
      joinable: this.joinable,
      add: (row: RowOptions): RowStream => {
        if (this.rejectRow(row)) {
          throw new PrefixEdgeError("INVALID_INPUT", `Cannot generate: row '${row.prompt}' is bad`);
        }
        this.added.push(row);
        return this.run(row);
      },
    };
  }
}

/** Serve `fetch` on 127.0.0.1 (port 0) for the duration of `fn`. */
export async function withServer(
  fetchHandler: (req: Request) => Response | Promise<Response>,
  fn: (base: string) => Promise<void>,
): Promise<void> {
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, fetchHandler);
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`);
  } finally {
    await server.shutdown();
  }
}

/**
 * A counter's value in a `/metrics` page (Prometheus text), summed over the series whose labels
 * include `labels` (all of them when it is empty); 0 when there is none.
 */
export function metricValue(text: string, name: string, labels = ""): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name) || line.startsWith("#")) continue;
    const [key, value] = line.split(" ");
    if (key.startsWith(`${name}{`) ? key.includes(labels) : labels === "") sum += Number(value);
  }
  return sum;
}

/** Parse an SSE body into `{ event, data }` frames. */
export function parseSse(text: string): { event: string | null; data: string }[] {
  return text.split("\n\n").filter((f) => f.trim()).map((frame) => {
    let event: string | null = null;
    const data: string[] = [];
    for (const line of frame.split("\n")) {
      if (line.startsWith("event: ")) event = line.slice(7);
      else if (line.startsWith("data: ")) data.push(line.slice(6));
    }
    return { event, data: data.join("\n") };
  });
}
