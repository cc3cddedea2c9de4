/**
 * The KV cache between decode steps: one key and one value tensor per layer,
 * each `[B, H, past, hd]` f32, held as ORT tensors (on the GPU when the EP
 * keeps `present` there). The first cache of a batch is built from the rows'
 * prefixes (docs/design.md §1 layout, §4 padding).
 *
 * @module
 */
import { kvWidth, type ModelConfig, type Prefix, prefixWidth } from "../model/mod.ts";
import type { ColumnRange } from "./batch_layout.ts";
import type { OrtBackend, OrtTensor } from "./ort_backend.ts";

/**
 * Reorders a GPU tensor's rows on the device: `out[i] = t[rows[i]]` along
 * axis 0, optionally keeping only a range of columns of axis 2, the result left on
 * the GPU. The decoder session provides one on WebGPU (small Gather / Slice
 * graphs on the same EP).
 */
export interface RowGather {
  /**
   * Gather rows of one GPU tensor.
   *
   * @param t `[B, H, S, hd]` on the GPU (not disposed)
   * @param rows source row of each output row
   * @param columns the columns `[from, to)` of axis 2 to keep (default all)
   * @returns `[rows.length, H, to - from, hd]` on the GPU
   */
  gather(t: OrtTensor, rows: readonly number[], columns?: ColumnRange): Promise<OrtTensor>;
}

/**
 * The on-device cache operations of a GPU session: the row gather, and the
 * padded concat that lets rows join a batch whose cache is on the GPU.
 */
export interface GpuCacheOps extends RowGather {
  /**
   * Stack two GPU tensors along axis 0, each padded with zeros on one side of axis 2 up to
   * the wider one's length.
   *
   * @param a `[Ba, H, Sa, hd]` on the GPU (not disposed)
   * @param b `[Bb, H, Sb, hd]` on the GPU (not disposed)
   * @param side where the zero columns go
   * @returns `[Ba + Bb, H, max(Sa, Sb), hd]` on the GPU
   */
  concat(a: OrtTensor, b: OrtTensor, side: "left" | "right"): Promise<OrtTensor>;
}

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
   * search (reorder) and for dropping finished rows. A cache on the GPU is
   * reordered (and its unused columns dropped) on the GPU by `gather` when
   * one is given (docs/design.md §4: no copy of the cache to the CPU); otherwise the
   * rows are copied on the CPU (GPU tensors are downloaded first).
   *
   * @param backend builds the new CPU tensors
   * @param rows source row of each new row
   * @param columns the past columns `[from, to)` to keep (default all): the others, which no
   *   kept row attends to, go, so a long-lived batch does not grow without bound
   * @param gather the on-device reorder for GPU tensors, if the EP has one
   * @returns the new cache (this one is left as is)
   */
  async selectRows(
    backend: OrtBackend,
    rows: readonly number[],
    columns: ColumnRange = [0, this.pastLen],
    gather?: RowGather,
  ): Promise<KvCache> {
    if (gather && this.tensors.every((t) => t.location === "gpu-buffer")) {
      return await this.#gatherOnGpu(gather, rows, columns);
    }
    const out: OrtTensor[] = [];
    const [from, to] = columns;
    const keep = to - from;
    for (const t of this.tensors) {
      const [, H, past, hd] = t.dims;
      const src = (t.location === "cpu" ? t.data : await t.getData()) as Float32Array;
      if (keep === past) {
        // Whole rows are contiguous: one copy per row.
        const stride = H * past * hd;
        const dst = new Float32Array(rows.length * stride);
        rows.forEach((r, i) => dst.set(src.subarray(r * stride, (r + 1) * stride), i * stride));
        out.push(backend.tensor("float32", dst, [rows.length, H, past, hd]));
        continue;
      }
      // dst: [rows.length, H, keep, hd] <- src[r, h, from..to, :]
      const dst = new Float32Array(rows.length * H * keep * hd);
      rows.forEach((r, i) => {
        for (let h = 0; h < H; h++) {
          const at = ((r * H + h) * past + from) * hd;
          dst.set(src.subarray(at, at + keep * hd), (i * H + h) * keep * hd);
        }
      });
      out.push(backend.tensor("float32", dst, [rows.length, H, keep, hd]));
    }
    return new KvCache(out, rows.length, keep);
  }

  async #gatherOnGpu(
    gather: RowGather,
    rows: readonly number[],
    columns: ColumnRange,
  ): Promise<KvCache> {
    const out = await buildOnGpu(this.tensors.map((t) => () => gather.gather(t, rows, columns)));
    return new KvCache(out, rows.length, columns[1] - columns[0]);
  }

  /**
   * Stack two caches along the batch axis: this one's rows, then `other`'s.
   * Their sequence lengths may differ: the shorter one is padded with zero columns, which the
   * callers' attention masks mark 0 (see `DecodeLayout.concat`). On the left (`BatchLayout`) a
   * row's last real column stays the last column and the next decode column is shared by all
   * rows; on the right (`RaggedLayout`) each row stays packed from column 0. Two caches on
   * the GPU are stacked on the GPU by `ops` when given (docs/design.md §4: no copy of
   * the cache to the CPU); otherwise on the CPU (GPU tensors are downloaded).
   *
   * @param backend builds the new CPU tensors
   * @param other the rows to append (same model, so same H and hd)
   * @param ops the on-device concat for GPU tensors, if the EP has one
   * @param side where the narrower cache's zero columns go (the layout's `padSide`)
   * @returns the new cache, `[Ba + Bb, H, max(pa, pb), hd]` per slot
   */
  async concat(
    backend: OrtBackend,
    other: KvCache,
    ops?: GpuCacheOps,
    side: "left" | "right" = "left",
  ): Promise<KvCache> {
    const W = Math.max(this.pastLen, other.pastLen);
    const onGpu = (c: KvCache) => c.tensors.every((t) => t.location === "gpu-buffer");
    if (ops && onGpu(this) && onGpu(other)) {
      const out = await buildOnGpu(
        this.tensors.map((t, i) => () => ops.concat(t, other.tensors[i], side)),
      );
      return new KvCache(out, this.batch + other.batch, W);
    }
    const out: OrtTensor[] = [];
    for (let slot = 0; slot < this.tensors.length; slot++) {
      const [, H, , hd] = this.tensors[slot].dims;
      const dst = new Float32Array((this.batch + other.batch) * H * W * hd);
      let row = 0;
      for (const part of [this, other]) {
        const t = part.tensors[slot];
        const src = (t.location === "cpu" ? t.data : await t.getData()) as Float32Array;
        const past = part.pastLen, pad = side === "left" ? W - past : 0;
        for (let b = 0; b < part.batch; b++, row++) {
          for (let h = 0; h < H; h++) {
            // src[b, h, 0..past) -> dst[row, h, pad..pad + past)
            const from = (b * H + h) * past * hd;
            dst.set(src.subarray(from, from + past * hd), ((row * H + h) * W + pad) * hd);
          }
        }
      }
      out.push(backend.tensor("float32", dst, [this.batch + other.batch, H, W, hd]));
    }
    return new KvCache(out, this.batch + other.batch, W);
  }
}

/** Run one GPU op per slot; on failure dispose what was built (a half-built cache would leak GPU buffers). */
async function buildOnGpu(ops: (() => Promise<OrtTensor>)[]): Promise<OrtTensor[]> {
  const out: OrtTensor[] = [];
  try {
    for (const op of ops) out.push(await op());
  } catch (e) {
    for (const t of out) t.dispose();
    throw e;
  }
  return out;
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
