/**
 * A one-line progress bar on stderr: steps, loss, tokens/s and ETA. On a
 * terminal it redraws in place (at most ~10 times a second); otherwise (CI
 * logs, pipes) it prints a plain line only when asked to, at log steps.
 *
 * @module
 */

/** Where the bar writes; stderr by default. */
export interface ProgressSink {
  /** Write raw text (no newline added). */
  write(text: string): void;
  /** Whether the sink is a terminal (redraw in place). */
  isTerminal: boolean;
}

/**
 * The default sink: stderr, redrawn in place when it is a terminal.
 *
 * @returns a sink writing to stderr
 *
 * @example Draw on stderr
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { ProgressBar, stderrSink } from "./progress_bar.ts";
 * const sink = stderrSink();
 * assertEquals(sink.isTerminal, Deno.stderr.isTerminal()); // redraws in place only on a terminal
 * const bar = new ProgressBar(100, sink);
 * bar.update(100, { loss: 1.25 }, true);
 * bar.finish();
 * ```
 */
export function stderrSink(): ProgressSink {
  const enc = new TextEncoder();
  return {
    write: (t) => void Deno.stderr.writeSync(enc.encode(t)),
    isTerminal: Deno.stderr.isTerminal(),
  };
}

/**
 * Format seconds for an ETA.
 *
 * @param sec seconds
 * @returns `1h02m`, `3m05s`, `42s`, or `?` when unknown
 *
 * @example Durations
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { formatDuration } from "./progress_bar.ts";
 * assertEquals([formatDuration(185), formatDuration(3720)], ["3m05s", "1h02m"]);
 * ```
 */
export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return "?";
  const s = Math.round(sec);
  if (s >= 3600) {
    return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, "0")}m`;
  }
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

function formatRate(x: number): string {
  return x >= 1000 ? `${(x / 1000).toFixed(1)}k` : x.toFixed(0);
}

/**
 * A progress bar over a known number of steps.
 *
 * @example Drive a bar
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { ProgressBar } from "./progress_bar.ts";
 * const lines: string[] = [];
 * const bar = new ProgressBar(10, { write: (t) => lines.push(t), isTerminal: false });
 * bar.update(5, { loss: 2.5, tokensPerSec: 1200, etaSec: 30 }, true);
 * assertEquals(lines[0].trim(), "train 5/10 [##########..........]  50% loss 2.500 1.2k tok/s ETA 30s");
 * ```
 */
export class ProgressBar {
  #total: number;
  #sink: ProgressSink;
  #lastDraw = 0;
  #drawn = false;
  #lastRate: number | undefined;
  #label: string;

  /**
   * Create a bar; nothing is drawn until {@link update}.
   *
   * @param total steps of the whole run
   * @param sink where to write (stderr by default)
   * @param label the word before the count (default `train`)
   */
  constructor(total: number, sink: ProgressSink = stderrSink(), label = "train") {
    this.#total = total;
    this.#sink = sink;
    this.#label = label;
  }

  /**
   * Show progress.
   *
   * @param done steps done
   * @param stats latest loss, throughput and estimated seconds left; without a
   *   throughput the last one given is shown, so the line keeps its fields
   * @param force print even when not a terminal / too soon since the last draw
   */
  update(
    done: number,
    stats: { loss?: number | null; tokensPerSec?: number; etaSec?: number },
    force = false,
  ): void {
    const now = performance.now();
    if (this.#sink.isTerminal) {
      if (!force && now - this.#lastDraw < 100 && done < this.#total) return;
    } else if (!force) return;
    this.#lastDraw = now;
    const width = 20;
    const filled = Math.min(width, Math.round((done / Math.max(1, this.#total)) * width));
    const pct = Math.floor((100 * done) / Math.max(1, this.#total));
    const parts = [
      `${this.#label} ${done}/${this.#total}`,
      `[${"#".repeat(filled)}${".".repeat(width - filled)}]`,
      `${String(pct).padStart(3)}%`,
    ];
    if (stats.loss !== undefined && stats.loss !== null) {
      parts.push(`loss ${stats.loss.toFixed(3)}`);
    }
    if (stats.tokensPerSec !== undefined) this.#lastRate = stats.tokensPerSec;
    if (this.#lastRate !== undefined) parts.push(`${formatRate(this.#lastRate)} tok/s`);
    if (stats.etaSec !== undefined) parts.push(`ETA ${formatDuration(stats.etaSec)}`);
    const line = parts.join(" ");
    if (this.#sink.isTerminal) {
      this.#sink.write(`\r\x1b[2K${line}`);
      this.#drawn = true;
    } else this.#sink.write(`${line}\n`);
  }

  /** Print a message on its own line without breaking the bar. */
  log(message: string): void {
    if (this.#sink.isTerminal && this.#drawn) this.#sink.write(`\r\x1b[2K`);
    this.#sink.write(`${message}\n`);
  }

  /** End the bar's line (terminal only). */
  finish(): void {
    if (this.#sink.isTerminal && this.#drawn) this.#sink.write("\n");
    this.#drawn = false;
  }
}
