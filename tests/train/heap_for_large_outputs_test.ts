/**
 * glibc's malloc keeps large blocks on its heap once the trainer asked it to, so a freed
 * 40 MB buffer's pages serve the next one without faulting in fresh ones.
 */
import process from "node:process";
import { assert } from "../_assert.ts";
import { keepLargeBlocksOnHeap } from "../../src/train/ort/heap_for_large_outputs.ts";

/** This process's minor page faults so far. */
const minorFaults = () => process.resourceUsage().minorPageFault;

/** A Deno built for Linux with glibc (`x86_64-unknown-linux-gnu`). */
const glibc = Deno.build.os === "linux" && Deno.build.env === "gnu";

Deno.test({
  name: "a freed 40 MB buffer's memory serves the next one without page faults",
  ignore: !glibc,
  fn() {
    assert(keepLargeBlocksOnHeap(), "mallopt was not applied");
    const bytes = 40 << 20, pages = bytes / 4096;
    const touch = () => {
      const a = new Float32Array(bytes / 4);
      a.fill(1); // every page written, as the binding's copy writes it
      a.buffer.transfer(0); // freed at once, as the trainer frees a read gradient
    };
    touch();
    const before = minorFaults();
    touch();
    const faults = minorFaults() - before;
    // With malloc's defaults the block is a fresh mmap: every one of its 10,240 pages faults.
    assert(faults < pages / 10, `${faults} page faults for ${pages} pages`);
  },
});
