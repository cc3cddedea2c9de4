/**
 * A progress bar for evaluation, drawn by the training loop's
 * {@link ProgressBar} (one bar for the whole SDK); only its leading word
 * changes from "train" to the given label.
 *
 * @module
 */
import { ProgressBar, type ProgressSink, stderrSink } from "../train/mod.ts";

/** What the bar writes before redrawing a terminal line. */
const CLEAR_LINE = "\r\x1b[2K";

/**
 * A bar whose lines start with `label` instead of "train".
 *
 * @param total items of the whole job
 * @param label the word in front, e.g. "eval"
 * @param sink where to draw (stderr by default)
 * @returns the bar
 *
 * @example A bar that says eval
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { labelledProgressBar } from "./progress.ts";
 * const lines: string[] = [];
 * const bar = labelledProgressBar(4, "eval", { write: (t) => lines.push(t), isTerminal: false });
 * bar.update(2, {}, true);
 * assertEquals(lines[0].startsWith("eval 2/4"), true);
 * ```
 */
export function labelledProgressBar(
  total: number,
  label: string,
  sink: ProgressSink = stderrSink(),
): ProgressBar {
  return new ProgressBar(total, {
    isTerminal: sink.isTerminal,
    write: (t) => {
      const at = t.startsWith(CLEAR_LINE) ? CLEAR_LINE.length : 0;
      sink.write(
        t.startsWith("train ", at) ? t.slice(0, at) + label + t.slice(at + "train".length) : t,
      );
    },
  });
}
