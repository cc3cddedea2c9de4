// The benchmark harness's own logic (the timings are not tested: benchmarks are run by hand).
import { assertEquals } from "../_assert.ts";
import { failureReason } from "../../bench/_measure.ts";

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
