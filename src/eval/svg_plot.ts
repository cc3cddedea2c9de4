/**
 * A tiny, dependency-free SVG line chart: axes with "nice" ticks, axis
 * labels, a title, a legend, and one `<path>` per series. Enough for loss
 * curves and gate trajectories, readable in a browser or on GitHub.
 *
 * @module
 */

/** One line of a chart. */
export interface PlotSeries {
  /** Legend label. */
  name: string;
  /** `[x, y]` points in drawing order; a non-finite `y` breaks the line. */
  points: ReadonlyArray<readonly [number, number]>;
  /** CSS color; taken from the palette when absent. */
  color?: string;
  /** Draw dashed. */
  dashed?: boolean;
  /**
   * Mark each point with a dot. Default: on for sparse series (at most
   * {@link MARKER_MAX_POINTS} points), so that a line through two dev-loss
   * measurements does not read as a measured curve.
   */
  markers?: boolean;
}

/** Series with at most this many points get dots on their points by default. */
export const MARKER_MAX_POINTS = 30;

/** Options of {@link lineChartSvg}. */
export interface LineChartOptions {
  /** Title above the plot. */
  title: string;
  /** X axis label. */
  xLabel: string;
  /** Y axis label. */
  yLabel: string;
  /** The lines. */
  series: readonly PlotSeries[];
  /** Pixel width (default 760). */
  width?: number;
  /** Pixel height (default 440). */
  height?: number;
  /** Force the y range (e.g. `[0, 1]` for gates); fitted to the data otherwise. */
  yRange?: readonly [number, number];
}

/** Tableau 10: distinct, colour-blind-friendly hues. */
const PALETTE = [
  "#4e79a7",
  "#f28e2b",
  "#e15759",
  "#76b7b2",
  "#59a14f",
  "#edc948",
  "#b07aa1",
  "#ff9da7",
  "#9c755f",
  "#bab0ac",
];

/**
 * About `count` round tick values covering `[min, max]` (steps of 1, 2 or 5 x 10^k).
 *
 * @param min range start
 * @param max range end
 * @param count wanted number of ticks
 * @returns ascending tick values
 *
 * @example Ticks for 0..1
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { niceTicks } from "./svg_plot.ts";
 * assertEquals(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
 * ```
 */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  // Count ticks by integer index, and give up on ranges narrower than the values' float
  // spacing (two scores 0.5 and the next float): there neither v += step nor i++ advances.
  const first = Math.ceil(min / step - 1e-9), last = Math.floor(max / step + 1e-9);
  const countable = Number.isSafeInteger(first) && Number.isSafeInteger(last);
  if (!countable || !(last >= first && last - first <= 1000)) return [min, max];
  const ticks: number[] = [];
  for (let i = first; i <= last; i++) {
    // Round away float noise such as 0.30000000000000004.
    ticks.push(Number((i * step).toPrecision(12)));
  }
  return ticks;
}

function fmt(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(
    /"/g,
    "&quot;",
  );
}

/**
 * Render a line chart as a standalone SVG document.
 *
 * @param options title, axis labels and series
 * @returns the SVG text (valid XML, one `<path>` per series with points)
 *
 * @example A loss curve
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { lineChartSvg } from "./svg_plot.ts";
 * const svg = lineChartSvg({
 *   title: "Loss",
 *   xLabel: "step",
 *   yLabel: "loss",
 *   series: [{ name: "train", points: [[1, 3.2], [2, 2.9], [3, 2.7]] }],
 * });
 * assertEquals(svg.startsWith("<?xml"), true);
 * ```
 */
export function lineChartSvg(options: LineChartOptions): string {
  const W = options.width ?? 760, H = options.height ?? 440;
  const series = options.series;
  const legendW = series.length > 0
    ? Math.min(200, 40 + 7 * Math.max(...series.map((s) => s.name.length)))
    : 0;
  const m = { left: 70, right: 20 + legendW, top: 40, bottom: 55 };
  const pw = W - m.left - m.right, ph = H - m.top - m.bottom;

  const xs: number[] = [], ys: number[] = [];
  for (const s of series) {
    for (const [x, y] of s.points) {
      if (Number.isFinite(x) && Number.isFinite(y)) {
        xs.push(x);
        ys.push(y);
      }
    }
  }
  let [x0, x1] = xs.length ? [Math.min(...xs), Math.max(...xs)] : [0, 1];
  let [y0, y1] = options.yRange ?? (ys.length ? [Math.min(...ys), Math.max(...ys)] : [0, 1]);
  if (x1 === x0) [x0, x1] = [x0 - 1, x1 + 1];
  if (y1 === y0) [y0, y1] = [y0 - (Math.abs(y0) || 1) * 0.1, y1 + (Math.abs(y1) || 1) * 0.1];
  if (!options.yRange) {
    // Leave a little air above and below the data.
    const pad = (y1 - y0) * 0.05;
    [y0, y1] = [y0 - pad, y1 + pad];
  }
  const xTicks = niceTicks(x0, x1, 6), yTicks = niceTicks(y0, y1, 5);
  const sx = (x: number) => m.left + ((x - x0) / (x1 - x0)) * pw;
  const sy = (y: number) => m.top + ph - ((y - y0) / (y1 - y0)) * ph;
  const r = (v: number) => v.toFixed(1);

  const out: string[] = [];
  out.push(`<?xml version="1.0" encoding="UTF-8"?>`);
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
  );
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(
    `<text x="${
      r(m.left + pw / 2)
    }" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(options.title)}</text>`,
  );
  // Grid and ticks.
  out.push(`<g class="grid" stroke="#e5e5e5" stroke-width="1">`);
  for (const t of xTicks) {
    out.push(`<line x1="${r(sx(t))}" y1="${m.top}" x2="${r(sx(t))}" y2="${m.top + ph}"/>`);
  }
  for (const t of yTicks) {
    out.push(`<line x1="${m.left}" y1="${r(sy(t))}" x2="${m.left + pw}" y2="${r(sy(t))}"/>`);
  }
  out.push(`</g>`);
  out.push(`<g class="axes" stroke="#333333" stroke-width="1">`);
  out.push(`<line x1="${m.left}" y1="${m.top + ph}" x2="${m.left + pw}" y2="${m.top + ph}"/>`);
  out.push(`<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${m.top + ph}"/>`);
  for (const t of xTicks) {
    out.push(`<line x1="${r(sx(t))}" y1="${m.top + ph}" x2="${r(sx(t))}" y2="${m.top + ph + 5}"/>`);
  }
  for (const t of yTicks) {
    out.push(`<line x1="${m.left - 5}" y1="${r(sy(t))}" x2="${m.left}" y2="${r(sy(t))}"/>`);
  }
  out.push(`</g>`);
  out.push(`<g class="tick-labels" fill="#333333">`);
  for (const t of xTicks) {
    out.push(`<text x="${r(sx(t))}" y="${m.top + ph + 19}" text-anchor="middle">${fmt(t)}</text>`);
  }
  for (const t of yTicks) {
    out.push(`<text x="${m.left - 8}" y="${r(sy(t) + 4)}" text-anchor="end">${fmt(t)}</text>`);
  }
  out.push(`</g>`);
  out.push(
    `<text x="${r(m.left + pw / 2)}" y="${H - 12}" text-anchor="middle">${
      esc(options.xLabel)
    }</text>`,
  );
  out.push(
    `<text x="16" y="${r(m.top + ph / 2)}" text-anchor="middle" transform="rotate(-90 16 ${
      r(m.top + ph / 2)
    })">${esc(options.yLabel)}</text>`,
  );
  // Lines, clipped to the plot area.
  out.push(
    `<defs><clipPath id="plot-area"><rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}"/></clipPath></defs>`,
  );
  out.push(`<g class="series" clip-path="url(#plot-area)" fill="none" stroke-width="1.8">`);
  const markers: string[] = [];
  series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    // Past the palette, alternate dashes so lines stay distinguishable.
    const dashed = s.dashed ?? (i >= PALETTE.length && Math.floor(i / PALETTE.length) % 2 === 1);
    let d = "", pen = false;
    for (const [x, y] of s.points) {
      if (!Number.isFinite(x) || !Number.isFinite(y)) {
        pen = false;
        continue;
      }
      d += `${pen ? "L" : "M"}${r(sx(x))} ${r(sy(y))} `;
      pen = true;
    }
    const dash = dashed ? ` stroke-dasharray="6 3"` : "";
    out.push(
      `<path d="${d.trim() || "M0 0"}" stroke="${color}"${dash}><title>${
        esc(s.name)
      }</title></path>`,
    );
    const finite = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (s.markers ?? finite.length <= MARKER_MAX_POINTS) {
      // Unclipped, so a point on the plot's edge shows whole; points outside a forced range are left out.
      for (const [x, y] of finite) {
        if (x < x0 || x > x1 || y < y0 || y > y1) continue;
        markers.push(
          `<circle cx="${r(sx(x))}" cy="${r(sy(y))}" r="3" fill="${color}" stroke="none"/>`,
        );
      }
    }
  });
  out.push(`</g>`);
  if (markers.length > 0) out.push(`<g class="markers">`, ...markers, `</g>`);
  // Legend, right of the plot; rows shrink when there are many series.
  if (series.length > 0) {
    const rowH = Math.max(10, Math.min(18, ph / series.length));
    const lx = m.left + pw + 15;
    out.push(`<g class="legend" font-size="${Math.min(12, rowH - 1)}">`);
    series.forEach((s, i) => {
      const color = s.color ?? PALETTE[i % PALETTE.length];
      const dashed = s.dashed ?? (i >= PALETTE.length && Math.floor(i / PALETTE.length) % 2 === 1);
      const y = m.top + 6 + i * rowH;
      out.push(
        `<line x1="${lx}" y1="${r(y)}" x2="${lx + 22}" y2="${
          r(y)
        }" stroke="${color}" stroke-width="2.5"${dashed ? ` stroke-dasharray="6 3"` : ""}/>`,
      );
      out.push(`<text x="${lx + 28}" y="${r(y + 4)}">${esc(s.name)}</text>`);
    });
    out.push(`</g>`);
  }
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}
