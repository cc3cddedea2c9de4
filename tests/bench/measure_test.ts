// The benchmark harness's own logic (the timings are not tested: benchmarks are run by hand).
import { assertEquals } from "../_assert.ts";
import { failureReason, median } from "../../bench/_measure.ts";

Deno.test("a failed bench child is reported by its error message, not its stack trace", () => {
  const stderr = [
    "\x1b[0m\x1b[1m\x1b[31merror\x1b[0m: Uncaught (in promise) PrefixEdgeError: Cannot bind wte",
    "    at GpuContext.bindGroup (file:///src/gpu/gpu_context.ts:10:5)",
    "    at async main (file:///bench/train_backend_bench.ts:1:1)",
    "",
  ].join("\n");
  assertEquals(
    failureReason(stderr),
    "error: Uncaught (in promise) PrefixEdgeError: Cannot bind wte",
  );
  assertEquals(failureReason("warming up\nkilled\n"), "killed");
  assertEquals(failureReason(""), undefined);
});

Deno.test("median takes the middle value, the upper one for an even count, and sorts a copy", () => {
  const xs = [3, 1, 2];
  assertEquals(median(xs), 2);
  assertEquals(xs, [3, 1, 2]);
  assertEquals(median([4, 1, 3, 2]), 3);
});
