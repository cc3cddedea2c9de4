/**
 * Keep large blocks in glibc's heap, so that a training step's outputs reuse memory instead of
 * faulting fresh pages in.
 *
 * onnxruntime-node copies every output of a run into a new buffer of its own, even one we
 * handed it to write into. At GPT-2 small the prefix MLP's two weight gradients are 38 MB each,
 * and glibc's malloc serves a block over 32 MB with its own `mmap`, returned by `munmap` when
 * it is freed. So every step faulted about 18,000 new pages in, which on a virtual machine cost
 * more than the copies themselves: at B=1 the ORT run took 470-545 ms, against 190-290 ms with
 * the blocks on the heap (bench/RESULTS.md, "The binding's copies and their page faults").
 * The trainer frees each copy as soon as it is read (`ArrayBuffer.transfer`), so the next
 * run's copies find the same blocks free and the heap does not grow.
 *
 * This holds on the main thread, where `deno task train` runs the trainer. A worker thread's
 * glibc arena is a set of heaps of at most 64 MB; a large block may get one alone and give it
 * back whole when freed, whatever the thresholds.
 *
 * @module
 */

/** Blocks up to this size come from the heap (a 1B-parameter model's MLP gradient is 134 MB). */
const MMAP_THRESHOLD = 256 << 20;
/** Free memory at the heap's top goes back to the system only above this. */
const TRIM_THRESHOLD = 512 << 20;
/** `mallopt`'s parameter numbers (glibc `malloc.h`). */
const M_TRIM_THRESHOLD = -1, M_MMAP_THRESHOLD = -3;

let kept: boolean | undefined;

/**
 * Raise glibc malloc's mmap and trim thresholds for this process (once). It does nothing where
 * it cannot: outside Linux, on a C library that is not glibc (musl), or without `--allow-ffi`.
 *
 * @returns whether large blocks now stay on the heap
 */
export function keepLargeBlocksOnHeap(): boolean {
  if (kept !== undefined) return kept;
  kept = false;
  if (typeof Deno === "undefined" || Deno.build.os !== "linux") return kept;
  try {
    const libc = Deno.dlopen("libc.so.6", {
      mallopt: { parameters: ["i32", "i32"], result: "i32" },
    });
    try {
      kept = libc.symbols.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) === 1 &&
        libc.symbols.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) === 1;
    } finally {
      libc.close();
    }
  } catch {
    // Not glibc, or no FFI permission: malloc keeps its defaults.
  }
  return kept;
}
