/**
 * glibc's malloc keeps large blocks on its heap once the trainer asked it to, so a freed
 * 40 MB buffer's pages serve the next one without faulting in fresh ones.
 *
 * The check runs in a child process, on its main thread, as `deno task train` runs the trainer.
 * `deno test` runs each test module on a thread of its own, whose glibc arena is a set of heaps
 * of at most 64 MB that a large block can get alone and return whole when it is freed: there the
 * check came out either way, depending on the tests that ran before it in the process.
 */
import { assert } from "../_assert.ts";

/** A Deno built for Linux with glibc (`x86_64-unknown-linux-gnu`). */
const glibc = Deno.build.os === "linux" && Deno.build.env === "gnu";

/** Touches a 40 MB buffer twice (freeing it in between); prints the second touch's page faults. */
const CHILD = `
import process from "node:process";
import { keepLargeBlocksOnHeap } from "${
  new URL("../../src/train/ort/heap_for_large_outputs.ts", import.meta.url).href
}";
const apply = Deno.args[0] === "apply";
const kept = apply ? keepLargeBlocksOnHeap() : false;
const touch = () => {
  const a = new Float32Array(10 << 20);
  a.fill(1); // every page written, as the binding's copy writes it
  a.buffer.transfer(0); // freed at once, as the trainer frees a read gradient
};
touch();
const before = process.resourceUsage().minorPageFault;
touch();
console.log(JSON.stringify({ kept, faults: process.resourceUsage().minorPageFault - before }));
`;

async function secondTouchFaults(apply: boolean): Promise<{ kept: boolean; faults: number }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--allow-ffi", "--allow-sys", "--allow-read", CHILD, apply ? "apply" : "skip"],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert(out.success, "the child process failed");
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

Deno.test({
  name: "a freed 40 MB buffer's memory serves the next one without page faults",
  ignore: !glibc,
  async fn() {
    const pages = (40 << 20) / 4096;
    const kept = await secondTouchFaults(true);
    assert(kept.kept, "mallopt was not applied");
    assert(kept.faults < pages / 10, `${kept.faults} page faults for ${pages} pages`);
    // With malloc's defaults the block is a fresh mmap: every one of its 10,240 pages faults.
    const defaults = await secondTouchFaults(false);
    assert(defaults.faults >= pages / 2, `${defaults.faults} faults without mallopt`);
  },
});
