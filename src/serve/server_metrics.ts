/**
 * The metrics the server exports on `GET /metrics`. One object owns them so
 * the registry, the scheduler and the routes update the same series.
 *
 * @module
 */
import { type Counter, type Gauge, type Histogram, MetricsRegistry } from "./prometheus.ts";

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128];

/**
 * Every series the server keeps (names prefixed `prefix_edge_`).
 *
 * @example Render the metrics page
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { ServerMetrics } from "./server_metrics.ts";
 * const m = new ServerMetrics();
 * m.requests.inc({ route: "completions", status: "200" });
 * assertEquals(m.render().includes("prefix_edge_requests_total"), true);
 * ```
 */
export class ServerMetrics {
  /** The underlying registry. */
  readonly registry: MetricsRegistry = new MetricsRegistry();
  /** HTTP requests by route and status. */
  readonly requests: Counter;
  /** Tokens by kind (`prompt`, `completion`). */
  readonly tokens: Counter;
  /**
   * Draft tokens checked while a row decoded alone (prompt lookup), by result: `accepted` (each
   * saved a forward pass) or `rejected`. Their ratio is the drafts' acceptance rate.
   */
  readonly draftTokens: Counter;
  /** Requests waiting for a batch slot. */
  readonly queueDepth: Gauge;
  /** Rows being generated right now. */
  readonly activeRows: Gauge;
  /**
   * Rows per engine batch. Waves: rows of each wave as it starts. Joining:
   * rows of the running batch right after each join (rows that leave are not
   * observed until the next join).
   */
  readonly batchSize: Histogram;
  /** Distinct tasks per engine batch (`base` counts as one), observed as {@link batchSize} is. */
  readonly tasksPerBatch: Histogram;
  /** Engine batches started (waves), or joins: groups of requests handed to the engine at once. */
  readonly batches: Counter;
  /** Requests added to an engine batch that was already decoding (joining mode). */
  readonly joins: Counter;
  /** Bundle loads into the cache, by result (`ok`, `error`). */
  readonly taskLoads: Counter;
  /**
   * Reads of the bundle store for a task, by result: `downloaded` (the bundle's bytes came),
   * `not_modified` (a revalidation the store answered with "unchanged"), `missing`, `error`.
   * Over a fleet, `downloaded` per replica is the number of bundle versions it has seen.
   */
  readonly storeReads: Counter;
  /** Tasks dropped from the cache to stay under the budget. */
  readonly taskEvictions: Counter;
  /** Tasks in the cache. */
  readonly tasksLoaded: Gauge;
  /** Bytes of decoded prefixes in the cache. */
  readonly cacheBytes: Gauge;
  /** Rows that ended early, by reason (`client`, `timeout`). */
  readonly cancelled: Counter;
  /** Requests refused, by reason (`queue_full`, `queue_timeout`). */
  readonly rejected: Counter;
  /** Whole-request latency by route. */
  readonly requestSeconds: Histogram;
  /** Time from arrival to the first token. */
  readonly firstTokenSeconds: Histogram;
  /** Time spent waiting in the queue. */
  readonly queueSeconds: Histogram;

  constructor() {
    const r = this.registry;
    this.requests = r.counter("prefix_edge_requests_total", "HTTP requests by route and status.");
    this.tokens = r.counter("prefix_edge_tokens_total", "Tokens processed, by kind.");
    this.draftTokens = r.counter(
      "prefix_edge_draft_tokens_total",
      "Draft tokens checked while a row decoded alone, by result (accepted, rejected).",
    );
    this.queueDepth = r.gauge("prefix_edge_queue_depth", "Requests waiting for a batch slot.");
    this.activeRows = r.gauge("prefix_edge_active_rows", "Rows being generated.");
    this.batchSize = r.histogram(
      "prefix_edge_batch_size",
      "Rows per engine batch, at each wave start or after each join.",
      SIZE_BUCKETS,
    );
    this.tasksPerBatch = r.histogram(
      "prefix_edge_tasks_per_batch",
      "Distinct tasks per engine batch (base counts as one), at each wave start or after each join.",
      SIZE_BUCKETS,
    );
    this.batches = r.counter(
      "prefix_edge_batches_total",
      "Engine batches started (waves) or joins (groups of requests handed to the engine at once).",
    );
    this.joins = r.counter(
      "prefix_edge_batch_joins_total",
      "Requests added to an engine batch that was already decoding.",
    );
    this.taskLoads = r.counter("prefix_edge_task_loads_total", "Bundle loads, by result.");
    this.storeReads = r.counter(
      "prefix_edge_store_reads_total",
      "Reads of the bundle store for a task, by result (downloaded, not_modified, missing, error).",
    );
    this.taskEvictions = r.counter(
      "prefix_edge_task_evictions_total",
      "Tasks evicted from the prefix cache to stay under its memory budget.",
    );
    this.tasksLoaded = r.gauge("prefix_edge_tasks_loaded", "Tasks in the prefix cache.");
    this.cacheBytes = r.gauge("prefix_edge_cache_bytes", "Bytes of decoded prefixes cached.");
    this.cancelled = r.counter("prefix_edge_cancelled_total", "Rows ended early, by reason.");
    this.rejected = r.counter("prefix_edge_rejected_total", "Requests refused, by reason.");
    this.requestSeconds = r.histogram(
      "prefix_edge_request_duration_seconds",
      "Request latency by route.",
      LATENCY_BUCKETS,
    );
    this.firstTokenSeconds = r.histogram(
      "prefix_edge_time_to_first_token_seconds",
      "Time from arrival to the first generated token.",
      LATENCY_BUCKETS,
    );
    this.queueSeconds = r.histogram(
      "prefix_edge_queue_wait_seconds",
      "Time a request waited for a batch slot.",
      LATENCY_BUCKETS,
    );
  }

  /**
   * Render every series, for `GET /metrics`.
   *
   * @returns every series in Prometheus text format
   */
  render(): string {
    return this.registry.render();
  }
}
