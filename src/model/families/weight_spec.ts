/**
 * How a family names and stores its frozen weights: one {@link WeightSpec} per checkpoint
 * tensor, so that the WebGPU trainer, the ONNX Runtime training graph and the ONNX exporter read
 * a checkpoint from one description (as llm.c's `ParameterTensors` lists every field's shape).
 *
 * @module
 */

/**
 * How a tensor is laid out in the checkpoint.
 * - `out_in`: an `nn.Linear` weight `[out, in]`; the layer computes `x Wᵀ`.
 * - `in_out`: GPT-2's `Conv1D` weight `[in, out]`; the layer computes `x W`.
 * - `rows`: a lookup table `[rows, width]` (embeddings; a head computes `x Wᵀ` on it).
 * - `vector`: a norm weight or a bias `[width]`.
 */
export type WeightLayout = "out_in" | "in_out" | "rows" | "vector";

/** One checkpoint tensor: its name, its shape as stored, and its layout. */
export interface WeightSpec {
  /** The tensor's name in model.safetensors (Hugging Face's). */
  readonly name: string;
  /** Its shape as stored, implied by config.json. */
  readonly shape: readonly number[];
  /** How it is laid out. */
  readonly layout: WeightLayout;
}

/**
 * An `nn.Linear` weight `[out, in]`.
 *
 * @example
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * assertEquals(linearWeight("q.weight", 8, 4), { name: "q.weight", shape: [8, 4], layout: "out_in" });
 * ```
 */
export function linearWeight(name: string, out: number, inDim: number): WeightSpec {
  return { name, shape: [out, inDim], layout: "out_in" };
}

/** A `Conv1D` weight `[in, out]` (GPT-2). */
export function conv1dWeight(name: string, inDim: number, out: number): WeightSpec {
  return { name, shape: [inDim, out], layout: "in_out" };
}

/** A lookup table `[rows, width]`. */
export function tableWeight(name: string, rows: number, width: number): WeightSpec {
  return { name, shape: [rows, width], layout: "rows" };
}

/** A norm weight or bias `[width]`. */
export function vectorWeight(name: string, width: number): WeightSpec {
  return { name, shape: [width], layout: "vector" };
}
