/**
 * Rotary position embedding tables, computed once on the CPU in float64 (Hugging Face's
 * default RoPE: inv_freq_i = theta^(-2i/hd), angle = position * inv_freq_i, rotate_half
 * layout; Llama 3's `rope_scaling` rescales inv_freq by wavelength). The WebGPU trainer reads
 * these tables. The ONNX graphs (inference and the ONNX Runtime trainer) compute their angles in
 * the graph from {@link ropeInverseFrequenciesF32}, in float32 as PyTorch does, so their logits
 * match PyTorch's export. Every RoPE frequency in the project comes from this file.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import type { Llama3RopeScaling, ModelConfig } from "./config.ts";

/** cos and sin of every (position, frequency) pair. */
export interface RopeTables {
  /** [positions, hd / 2] f32 cos(position * inv_freq_i). */
  cos: Float32Array;
  /** [positions, hd / 2] f32 sin(position * inv_freq_i). */
  sin: Float32Array;
  /** Number of positions (rows). */
  positions: number;
  /** hd / 2 (columns). */
  half: number;
}

/**
 * The inverse frequencies of a RoPE model: `theta^(-2i/hd)` for i < hd/2.
 *
 * @param config a Llama-family config
 * @returns hd / 2 inverse frequencies (float64)
 * @throws {PrefixEdgeError} `UNSUPPORTED_MODEL` for a config without a RoPE base or with an
 *   odd head size
 */
export function ropeInverseFrequencies(config: ModelConfig): Float64Array {
  const theta = config.ropeTheta;
  if (theta === undefined) {
    throw new PrefixEdgeError(
      "UNSUPPORTED_MODEL",
      `Cannot build RoPE tables for ${config.modelType}: the model has no rope_theta`,
    );
  }
  const hd = config.headDim;
  if (hd % 2 !== 0) {
    throw new PrefixEdgeError(
      "UNSUPPORTED_MODEL",
      `Cannot build RoPE tables: head_dim ${hd} is odd`,
    );
  }
  const inv = Float64Array.from({ length: hd / 2 }, (_, i) => Math.pow(theta, -(2 * i) / hd));
  return config.ropeScaling ? llama3Scaled(inv, config.ropeScaling) : inv;
}

/**
 * The inverse frequencies as PyTorch computes them in float32, `1 / theta^(2i / hd)` rounded
 * step by step (what an exported graph must hold for its logits to match PyTorch's); with
 * Llama 3's scaling, {@link ropeInverseFrequencies} rounded once.
 *
 * @example stories260K (hd 8, theta 10000)
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { loadModel } from "./load_model.ts";
 * const { config } = await loadModel("models/stories260K");
 * assertEquals(Array.from(ropeInverseFrequenciesF32(config)), [1, 0.10000000149011612, 0.009999999776482582, 0.0010000000474974513]);
 * ```
 *
 * @param config a Llama-family config
 * @returns hd / 2 inverse frequencies (float32)
 */
export function ropeInverseFrequenciesF32(config: ModelConfig): Float32Array {
  if (config.ropeScaling) return Float32Array.from(ropeInverseFrequencies(config));
  const hd = config.headDim, theta = Math.fround(config.ropeTheta ?? 10000);
  const inv = new Float32Array(hd / 2);
  for (let i = 0; i < hd / 2; i++) {
    const e = Math.fround(Math.fround(2 * i) / hd);
    inv[i] = Math.fround(1 / Math.fround(theta ** e));
  }
  return inv;
}

/**
 * Llama 3's frequency rescaling (transformers' `_compute_llama3_parameters`): wavelengths
 * longer than `original / low_freq_factor` are slowed by `factor`, those shorter than
 * `original / high_freq_factor` are kept, and those between are blended smoothly.
 */
function llama3Scaled(inv: Float64Array, s: Llama3RopeScaling): Float64Array {
  const lowWavelen = s.originalMaxPositions / s.lowFreqFactor;
  const highWavelen = s.originalMaxPositions / s.highFreqFactor;
  return inv.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < highWavelen) return f;
    if (wavelen > lowWavelen) return f / s.factor;
    const smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) /
      (s.highFreqFactor - s.lowFreqFactor);
    return (1 - smooth) * f / s.factor + smooth * f;
  });
}

/**
 * cos/sin tables for positions 0..positions-1.
 *
 * @example The tables of stories260K
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { loadModel } from "./load_model.ts";
 * import { ropeTables } from "./rope.ts";
 * const model = await loadModel("models/stories260K");
 * const { cos, half } = ropeTables(model.config, model.config.maxPositions);
 * assertEquals([half, cos[0]], [4, 1]);
 * ```
 *
 * @param config a Llama-family config
 * @param positions how many positions (usually `config.maxPositions`)
 * @returns the tables
 */
export function ropeTables(config: ModelConfig, positions: number): RopeTables {
  const inv = ropeInverseFrequencies(config);
  const half = inv.length;
  const cos = new Float32Array(positions * half);
  const sin = new Float32Array(positions * half);
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < half; i++) {
      const angle = p * inv[i];
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  return { cos, sin, positions, half };
}
