/**
 * A tiny Prometheus text-format registry: counters, gauges and histograms
 * with labels. No npm package: `prom-client` pulls in Node-only modules
 * (`cluster`, `perf_hooks`) that Deno Deploy lacks, and the server needs only
 * three metric types and the text exposition format (version 0.0.4), which fit
 * in this file.
 *
 * @module
 */

/** Label values of one series, by label name. */
export type Labels = Record<string, string>;

/** What every metric can do: render its lines. */
export interface Metric {
  /** The metric's name. */
  readonly name: string;
  /** Render its lines in the text exposition format. */
  render(): string;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function labelText(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return "";
  return `{${keys.map((k) => `${k}="${escapeLabel(labels[k])}"`).join(",")}}`;
}

function formatNumber(v: number): string {
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return Number.isNaN(v) ? "NaN" : String(v);
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

function header(name: string, help: string, type: string): string {
  return `# HELP ${name} ${
    help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")
  }\n# TYPE ${name} ${type}\n`;
}

/** A monotonically increasing count, per label set. */
export class Counter implements Metric {
  #values = new Map<string, number>();
  /**
   * Create a counter (use {@link MetricsRegistry.counter} to register one).
   *
   * @param name metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`)
   * @param help one-line description
   */
  constructor(readonly name: string, readonly help: string) {}
  /**
   * Add `by` (default 1).
   * @throws {RangeError} for a negative increment (counters never go down)
   */
  inc(labels: Labels = {}, by = 1): void {
    if (by < 0) throw new RangeError(`Cannot decrease counter ${this.name}: increment ${by} < 0`);
    const k = labelText(labels);
    this.#values.set(k, (this.#values.get(k) ?? 0) + by);
  }
  /**
   * Read one series.
   *
   * @returns the current value for a label set (0 if never touched)
   */
  get(labels: Labels = {}): number {
    return this.#values.get(labelText(labels)) ?? 0;
  }
  /**
   * Render in the text exposition format.
   *
   * @returns the text-format lines
   */
  render(): string {
    let out = header(this.name, this.help, "counter");
    if (this.#values.size === 0) out += `${this.name} 0\n`;
    for (const [k, v] of this.#values) out += `${this.name}${k} ${formatNumber(v)}\n`;
    return out;
  }
}

/** A value that goes up and down, per label set. */
export class Gauge implements Metric {
  #values = new Map<string, number>();
  /**
   * Create a gauge (use {@link MetricsRegistry.gauge} to register one).
   *
   * @param name metric name
   * @param help one-line description
   */
  constructor(readonly name: string, readonly help: string) {}
  /** Set the value. */
  set(value: number, labels: Labels = {}): void {
    this.#values.set(labelText(labels), value);
  }
  /** Add `by` (may be negative). */
  inc(by = 1, labels: Labels = {}): void {
    const k = labelText(labels);
    this.#values.set(k, (this.#values.get(k) ?? 0) + by);
  }
  /**
   * Read one series.
   *
   * @returns the current value (0 if never set)
   */
  get(labels: Labels = {}): number {
    return this.#values.get(labelText(labels)) ?? 0;
  }
  /**
   * Render in the text exposition format.
   *
   * @returns the text-format lines
   */
  render(): string {
    let out = header(this.name, this.help, "gauge");
    if (this.#values.size === 0) out += `${this.name} 0\n`;
    for (const [k, v] of this.#values) out += `${this.name}${k} ${formatNumber(v)}\n`;
    return out;
  }
}

interface HistogramSeries {
  labels: Labels;
  counts: number[]; // per bucket, not cumulative; last entry is +Inf
  sum: number;
  count: number;
}

/** Observations counted into fixed buckets (cumulative `le` buckets on output). */
export class Histogram implements Metric {
  #series = new Map<string, HistogramSeries>();
  /** Upper bounds of the buckets (`+Inf` implied). */
  readonly buckets: readonly number[];
  /**
   * Create a histogram (use {@link MetricsRegistry.histogram} to register one).
   *
   * @param name metric name
   * @param help one-line description
   * @param buckets upper bounds, strictly increasing (`+Inf` is implied)
   * @throws {RangeError} when the bounds are not strictly increasing
   */
  constructor(readonly name: string, readonly help: string, buckets: number[]) {
    for (let i = 1; i < buckets.length; i++) {
      if (!(buckets[i] > buckets[i - 1])) {
        throw new RangeError(
          `Cannot create histogram ${name}: buckets must increase, got ${buckets.join(", ")}`,
        );
      }
    }
    this.buckets = buckets;
  }
  /** Record one observation. */
  observe(value: number, labels: Labels = {}): void {
    const k = labelText(labels);
    let s = this.#series.get(k);
    if (!s) {
      s = { labels, counts: new Array(this.buckets.length + 1).fill(0), sum: 0, count: 0 };
      this.#series.set(k, s);
    }
    let i = this.buckets.findIndex((b) => value <= b);
    if (i < 0) i = this.buckets.length;
    s.counts[i]++;
    s.sum += value;
    s.count++;
  }
  /**
   * Read one series.
   *
   * @returns `{ count, sum }` for a label set
   */
  get(labels: Labels = {}): { count: number; sum: number } {
    const s = this.#series.get(labelText(labels));
    return { count: s?.count ?? 0, sum: s?.sum ?? 0 };
  }
  /**
   * Render in the text exposition format.
   *
   * @returns the text-format lines (`_bucket`, `_sum`, `_count`)
   */
  render(): string {
    let out = header(this.name, this.help, "histogram");
    const series = this.#series.size
      ? [...this.#series.values()]
      : [{ labels: {}, counts: new Array(this.buckets.length + 1).fill(0), sum: 0, count: 0 }];
    for (const s of series) {
      let cum = 0;
      const bounds = [...this.buckets, Infinity];
      bounds.forEach((b, i) => {
        cum += s.counts[i];
        out += `${this.name}_bucket${labelText({ ...s.labels, le: formatNumber(b) })} ${cum}\n`;
      });
      out += `${this.name}_sum${labelText(s.labels)} ${formatNumber(s.sum)}\n`;
      out += `${this.name}_count${labelText(s.labels)} ${s.count}\n`;
    }
    return out;
  }
}

/**
 * A set of metrics rendered together for `GET /metrics`.
 *
 * @example Count and render
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { MetricsRegistry } from "./prometheus.ts";
 * const reg = new MetricsRegistry();
 * const hits = reg.counter("demo_hits_total", "Hits.");
 * hits.inc({ route: "/" });
 * assertEquals(reg.render().includes('demo_hits_total{route="/"} 1'), true);
 * ```
 */
export class MetricsRegistry {
  #metrics = new Map<string, Metric>();

  /** Text exposition format's content type. */
  static readonly CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

  #add<M extends Metric>(m: M): M {
    if (!NAME.test(m.name)) throw new RangeError(`Cannot register metric: bad name '${m.name}'`);
    if (this.#metrics.has(m.name)) {
      throw new RangeError(`Cannot register metric ${m.name}: the name is taken`);
    }
    this.#metrics.set(m.name, m);
    return m;
  }
  /** Register a counter. */
  counter(name: string, help: string): Counter {
    return this.#add(new Counter(name, help));
  }
  /** Register a gauge. */
  gauge(name: string, help: string): Gauge {
    return this.#add(new Gauge(name, help));
  }
  /** Register a histogram with the given bucket bounds. */
  histogram(name: string, help: string, buckets: number[]): Histogram {
    return this.#add(new Histogram(name, help, buckets));
  }
  /**
   * Render every metric, for `GET /metrics`.
   *
   * @returns every metric in text exposition format
   */
  render(): string {
    return [...this.#metrics.values()].map((m) => m.render()).join("");
  }
}
