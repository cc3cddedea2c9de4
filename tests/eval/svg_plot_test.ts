import { gatesChartSvg, lineChartSvg, lossChartSvg, niceTicks } from "../../src/eval/mod.ts";
import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { checkWellFormedXml } from "./_xml_check.ts";

Deno.test("the XML checker used here rejects broken documents", () => {
  assertThrows(() => checkWellFormedXml("<svg><g></svg>"));
  assertThrows(() => checkWellFormedXml('<svg><text x="1">a < b</text></svg>'));
  assertThrows(() => checkWellFormedXml('<svg a="1" a="2"/>'));
  assertThrows(() => checkWellFormedXml("<svg/><svg/>"));
  assertEquals(checkWellFormedXml('<?xml version="1.0"?>\n<svg><path d="M0 0"/></svg>').length, 2);
});

Deno.test("lineChartSvg() is valid XML with one path per series, axes, ticks and a legend", () => {
  const svg = lineChartSvg({
    title: "Loss <train> & dev",
    xLabel: "step",
    yLabel: "loss",
    series: [
      { name: "train", points: [[0, 3], [10, 2.5], [20, 2.1]] },
      { name: "dev", points: [[0, 3.1], [20, NaN], [30, 2.4]] },
      { name: "one point", points: [[5, 2.8]] },
    ],
  });
  const els = checkWellFormedXml(svg);
  assertEquals(els[0].name, "svg");
  assertEquals(els[0].attrs.xmlns, "http://www.w3.org/2000/svg");
  const paths = els.filter((e) => e.name === "path");
  assertEquals(paths.length, 3);
  assertEquals(
    paths[0].attrs.d,
    paths[0].attrs.d.match(/^M[\d.]+ [\d.]+( L[\d.]+ [\d.]+){2}$/)?.[0],
  );
  // A NaN breaks the line: the dev path restarts with a second M.
  assertEquals(paths[1].attrs.d.split("M").length - 1, 2);
  assert(svg.includes("Loss &lt;train&gt; &amp; dev"));
  for (const label of ["train", "dev", "one point", "step", "loss"]) {
    assert(svg.includes(`>${label}<`), `missing label ${label}`);
  }
  assert(els.filter((e) => e.name === "line").length > 10, "axes and ticks are lines");
  // Sparse series get a dot per finite point (3 train, 2 dev, 1 lone point).
  assertEquals(els.filter((e) => e.name === "circle").length, 6);
});

Deno.test("lineChartSvg() marks the points of sparse series only, unless told", () => {
  const dense = Array.from({ length: 31 }, (_, i) => [i, Math.sin(i)] as const);
  const circles = (series: Parameters<typeof lineChartSvg>[0]["series"]) =>
    checkWellFormedXml(lineChartSvg({ title: "t", xLabel: "x", yLabel: "y", series }))
      .filter((e) => e.name === "circle").length;
  assertEquals(circles([{ name: "dense", points: dense }]), 0);
  assertEquals(circles([{ name: "dense", points: dense, markers: true }]), 31);
  assertEquals(circles([{ name: "dev", points: [[0, 3], [20, 2.5]] }]), 2);
  assertEquals(circles([{ name: "dev", points: [[0, 3], [20, 2.5]], markers: false }]), 0);
});

Deno.test("gatesChartSvg() draws one line per prefix token inside [0, 1]", () => {
  const steps = [10, 20, 30];
  const gates = [[0.5, 0.5, 0.5, 0.5], [0.52, 0.49, 0.5, 0.55], [0.6, 0.45, 0.5, 0.61]];
  const svg = gatesChartSvg(steps, gates);
  const els = checkWellFormedXml(svg);
  const paths = els.filter((e) => e.name === "path");
  assertEquals(paths.length, 4);
  for (let i = 0; i < 4; i++) assert(svg.includes(`>token ${i}<`));
  const loss = lossChartSvg([[10, 3], [20, 2]], []);
  assertEquals(checkWellFormedXml(loss).filter((e) => e.name === "path").length, 1);
});

Deno.test("niceTicks() returns round, evenly spaced values covering the range", () => {
  assertEquals(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assertEquals(niceTicks(0, 100, 5), [0, 20, 40, 60, 80, 100]);
  assertEquals(niceTicks(10.75, 10.85, 5), [10.76, 10.78, 10.8, 10.82, 10.84]);
  assertEquals(niceTicks(3, 3), [3]);
});

Deno.test("niceTicks() and the line chart survive ranges narrower than the values' float spacing", () => {
  // Two cells scoring 0.5 and the next float above it: the step underflows the spacing.
  const hi = 0.5 + Number.EPSILON / 2;
  const ticks = niceTicks(0.5, hi, 5);
  assert(ticks.length >= 1 && ticks.length <= 1001, `ticks ${ticks.length}`);
  assert(ticks.every(Number.isFinite));
  const svg = lineChartSvg({
    title: "t",
    xLabel: "x",
    yLabel: "y",
    series: [{ name: "a", points: [[1, 0.5], [5, hi]] }],
  });
  assert(svg.includes("<svg") && svg.trimEnd().endsWith("</svg>"), svg.slice(0, 80));
  checkWellFormedXml(svg);
});
