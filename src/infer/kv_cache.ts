/**
 * The KV cache between decode steps: one key and one value tensor per layer,
 * each `[B, H, past, hd]` f32, held as ORT tensors (on the GPU when the EP
 * keeps `present` there). The first cache of a batch is built from the rows'
 * prefixes (DESIGN §1 layout, §4 padding).
 *
 * @module
 */
import { kvWidth, type ModelConfig, type Prefix, prefixWidth } from "../model/mod.ts";
import type { OrtBackend, OrtTensor } from "./ort_backend.ts";

/** A batch's KV cache: `tensors[2l + kv]` is layer l's key (kv 0) or value (kv 1). */
export class KvCache {
  /** `[B, H, past, hd]` per slot, slot = 2l + kv. */
  readonly tensors: OrtTensor[];
  /** B. */
  readonly batch: number;
  /** past: cached positions per row (prefix padding included). */
  readonly pastLen: number;

  constructor(tensors: OrtTensor[], batch: number, pastLen: number) {
    this.tensors = tensors;
    this.batch = batch;
    this.pastLen = pastLen;
  }

  /** Release the tensors (GPU buffers on WebGPU; a no-op for CPU data). */
  dispose(): void {
    for (const t of this.tensors) {
      if (t.location === "gpu-buffer") t.dispose();
    }
  }

  /**
   * A new cache holding rows `rows` (in that order) of this one: for beam
   * search (reorder) and for dropping finished rows. GPU tensors are
   * downloaded first, since ORT offers no on-device gather here.
   *
   * @param backend builds the new CPU tensors
   * @param rows source row of each new row
   * @returns the new cache (this one is left as is)
   */
  async selectRows(backend: OrtBackend, rows: readonly number[]): Promise<KvCache> {
    const out: OrtTensor[] = [];
    for (const t of this.tensors) {
      const [, H, past, hd] = t.dims;
      const src = (t.location === "cpu" ? t.data : await t.getData()) as Float32Array;
      const stride = H * past * hd;
      const dst = new Float32Array(rows.length * stride);
      rows.forEach((r, i) => dst.set(src.subarray(r * stride, (r + 1) * stride), i * stride));
      out.push(backend.tensor("float32", dst, [rows.length, H, past, hd]));
    }
    return new KvCache(out, rows.length, this.pastLen);
  }
}

/**
 * Build the first KV cache of a batch from its rows' prefixes. Row b's prefix
 * fills past columns `[0, P_b)`; columns `[P_b, Pmax)` are zeros that the
 * attention mask hides. With no prefix at all the cache is `[B, H, 0, hd]`
 * (ORT accepts a zero-length past).
 *
 * @param backend builds the tensors
 * @param config the base model
 * @param prefixes per row, `null` = none (already validated)
 * @returns the cache, with `pastLen = Pmax`
 */
export function prefixCache(
  backend: OrtBackend,
  config: ModelConfig,
  prefixes: readonly (Prefix | null)[],
): KvCache {
  const B = prefixes.length, H = config.numKvHeads, hd = config.headDim;
  const D = kvWidth(config), S = prefixWidth(config);
  const Pmax = Math.max(0, ...prefixes.map((p) => p?.prefixLen ?? 0));
  const tensors: OrtTensor[] = [];
  for (let slot = 0; slot < 2 * config.numLayers; slot++) {
    // dst: [B, H, Pmax, hd]; source row p of prefix b: kv[p*S + slot*D + h*hd + i]
    const dst = new Float32Array(B * H * Pmax * hd);
    prefixes.forEach((prefix, b) => {
      if (!prefix) return;
      for (let p = 0; p < prefix.prefixLen; p++) {
        const rowBase = p * S + slot * D;
        for (let h = 0; h < H; h++) {
          dst.set(
            prefix.kv.subarray(rowBase + h * hd, rowBase + (h + 1) * hd),
            ((b * H + h) * Pmax + p) * hd,
          );
        }
      }
    });
    tensors.push(backend.tensor("float32", dst, [B, H, Pmax, hd]));
  }
  return new KvCache(tensors, B, Pmax);
}
