import { MetricsRegistry } from "../../src/serve/mod.ts";
import { assert, assertEquals, assertThrows } from "../_assert.ts";

Deno.test("MetricsRegistry renders counters with sorted, escaped labels", () => {
  const reg = new MetricsRegistry();
  const c = reg.counter("t_requests_total", "Requests.");
  c.inc({ status: "200", route: "a" });
  c.inc({ route: "a", status: "200" }, 2);
  c.inc({ route: 'q"\\', status: "500" });
  const text = reg.render();
  assert(text.includes("# HELP t_requests_total Requests.\n# TYPE t_requests_total counter\n"));
  assert(text.includes('t_requests_total{route="a",status="200"} 3\n'), text);
  assert(text.includes('t_requests_total{route="q\\"\\\\",status="500"} 1\n'), text);
});

Deno.test("Histogram renders cumulative buckets, +Inf, sum and count", () => {
  const reg = new MetricsRegistry();
  const h = reg.histogram("t_latency_seconds", "Latency.", [0.1, 1]);
  for (const v of [0.05, 0.5, 0.5, 7]) h.observe(v);
  const text = reg.render();
  assert(text.includes('t_latency_seconds_bucket{le="0.1"} 1\n'), text);
  assert(text.includes('t_latency_seconds_bucket{le="1"} 3\n'), text);
  assert(text.includes('t_latency_seconds_bucket{le="+Inf"} 4\n'), text);
  assert(text.includes("t_latency_seconds_sum 8.05\n"), text);
  assert(text.includes("t_latency_seconds_count 4\n"), text);
});

Deno.test("Gauges go up and down and untouched metrics render a zero", () => {
  const reg = new MetricsRegistry();
  const g = reg.gauge("t_depth", "Depth.");
  reg.counter("t_never_total", "Never.");
  g.inc(3);
  g.inc(-1);
  assertEquals(g.get(), 2);
  const text = reg.render();
  assert(text.includes("t_depth 2\n"));
  assert(text.includes("t_never_total 0\n"));
});

Deno.test("MetricsRegistry refuses duplicate names, bad names, bad buckets and negative increments", () => {
  const reg = new MetricsRegistry();
  reg.counter("t_x", "X.");
  assertThrows(() => reg.counter("t_x", "again"), (e) => assert(e instanceof RangeError));
  assertThrows(() => reg.gauge("bad name", "no"), (e) => assert(e instanceof RangeError));
  assertThrows(() => reg.histogram("t_h", "H.", [1, 1]), (e) => assert(e instanceof RangeError));
  assertThrows(() => reg.counter("t_y", "Y.").inc({}, -1), (e) => assert(e instanceof RangeError));
});
