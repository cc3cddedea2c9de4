/**
 * A cheap identity of the base model for checkpoints: sha256 over the
 * architecture numbers, the weights file's size and its first and last MiB.
 * Enough to refuse resuming on another model; not an integrity check.
 *
 * @module
 */
import type { LoadedModel } from "../../model/mod.ts";

const EDGE = 1 << 20;

/**
 * @param model the loaded base model
 * @returns hex sha256
 */
export async function modelIdentity(model: LoadedModel): Promise<string> {
  const c = model.config;
  const arch = JSON.stringify([
    c.family,
    c.numLayers,
    c.numHeads,
    c.numKvHeads,
    c.headDim,
    c.hiddenSize,
    c.intermediateSize,
    c.vocabSize,
    c.maxPositions,
  ]);
  const parts: Uint8Array[] = [new TextEncoder().encode(arch)];
  const path = model.paths.weights ?? model.paths.onnx;
  if (path) {
    const f = await Deno.open(path, { read: true });
    try {
      const size = (await f.stat()).size;
      parts.push(new TextEncoder().encode(`:${size}:`));
      for (const start of size <= 2 * EDGE ? [0] : [0, size - EDGE]) {
        const buf = new Uint8Array(Math.min(size, size <= 2 * EDGE ? size : EDGE));
        await f.seek(start, Deno.SeekMode.Start);
        let off = 0;
        while (off < buf.length) {
          const n = await f.read(buf.subarray(off));
          if (n === null) break;
          off += n;
        }
        parts.push(buf.subarray(0, off));
      }
    } finally {
      f.close();
    }
  }
  const all = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  const h = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return [...h].map((b) => b.toString(16).padStart(2, "0")).join("");
}
