/** The training progress bar: what a user reads on a terminal and in a log. */
import { ProgressBar } from "../../src/train/loop/progress_bar.ts";
import { assert, assertEquals } from "../_assert.ts";

Deno.test("ProgressBar keeps showing the last tokens/s between log steps on a terminal", () => {
  const out: string[] = [];
  const bar = new ProgressBar(4, { write: (t) => out.push(t), isTerminal: true });
  bar.update(1, { loss: 2.5, tokensPerSec: 1200, etaSec: 3 }, true);
  bar.update(2, { loss: 2.4, etaSec: 2 }, true);
  bar.finish();
  const lines = out.join("").split("\r\x1b[2K").filter((l) => l.trim() !== "");
  assertEquals(lines.length, 2, JSON.stringify(out));
  assert(lines[0].includes("1.2k tok/s"), lines[0]);
  assert(lines[1].includes("loss 2.400 1.2k tok/s ETA 2s"), lines[1]);
});

Deno.test("ProgressBar prints one plain line per forced update when not a terminal", () => {
  const out: string[] = [];
  const bar = new ProgressBar(10, { write: (t) => out.push(t), isTerminal: false });
  bar.update(3, { loss: 2 }); // not a log step: nothing in a log file
  bar.update(5, { loss: 2.5, tokensPerSec: 1200, etaSec: 30 }, true);
  assertEquals(out, ["train 5/10 [##########..........]  50% loss 2.500 1.2k tok/s ETA 30s\n"]);
});
