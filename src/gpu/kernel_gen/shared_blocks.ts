/**
 * One source for WGSL that several hand-written kernels share. A shared block is the text from
 * a line `// ---- BEGIN SHARED <name> ----` to the line `// ---- END SHARED <name> ----`
 * (both included). Its source kernel holds the block as written; every copy kernel holds the
 * same lines, GENERATED from the source by {@link sharedBlockCopies}: `deno task kernels`
 * (shipped_kernels.ts) rewrites the copies, and tests/gpu/shipped_kernels_test.ts fails when a
 * copy in kernels/ differs from the source's block. Each kernel stays one plain WGSL module,
 * loaded as it is (no include step at run time).
 *
 * @module
 */

/** A block of WGSL written in one kernel and copied into others. */
export interface SharedBlock {
  /** The name in the markers. */
  name: string;
  /** The kernel (in kernels/, without `.wgsl`) that holds the block's source. */
  source: string;
  /** The kernels that hold generated copies. */
  copies: readonly string[];
}

/**
 * The shared blocks of the shipped kernels: the hardware set's attention passes share the
 * uniform, bindings 0..3, the workgroup tiles, the head-vector loads and the key staging.
 */
export const SHARED_BLOCKS: readonly SharedBlock[] = [
  {
    name: "attention_tiled",
    source: "attention_tiled_forward",
    copies: ["attention_tiled_backward"],
  },
];

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

function blockPattern(name: string): RegExp {
  const n = escape(name);
  return new RegExp(
    `^// ---- BEGIN SHARED ${n} ----\\n[\\s\\S]*?^// ---- END SHARED ${n} ----\\n`,
    "gm",
  );
}

/**
 * The block `name` of a kernel's text.
 *
 * @throws {Error} unless the text holds the block exactly once
 */
export function sharedBlock(name: string, kernel: string, text: string): string {
  const found = text.match(blockPattern(name)) ?? [];
  if (found.length !== 1) {
    throw new Error(
      `Cannot copy the shared block ${name}: kernels/${kernel}.wgsl holds it ${found.length} times, expected once between "// ---- BEGIN SHARED ${name} ----" and "// ---- END SHARED ${name} ----" lines`,
    );
  }
  return found[0];
}

/**
 * The copy kernels with their blocks replaced by the source's, by file name in kernels/.
 *
 * @param blocks the shared blocks ({@link SHARED_BLOCKS})
 * @param read reads `kernels/<name>.wgsl`
 * @returns `{ "<copy>.wgsl": text }`
 * @throws {Error} when a source or a copy does not hold its block exactly once
 */
export async function sharedBlockCopies(
  blocks: readonly SharedBlock[],
  read: (name: string) => Promise<string>,
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const { name, source, copies } of blocks) {
    const block = sharedBlock(name, source, await read(source));
    for (const copy of copies) {
      const text = out[`${copy}.wgsl`] ?? await read(copy);
      sharedBlock(name, copy, text); // exactly one place to put it
      out[`${copy}.wgsl`] = text.replace(blockPattern(name), () => block);
    }
  }
  return out;
}
