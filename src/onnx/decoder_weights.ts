/**
 * How a decoder description asks for weights: it names an HF tensor and the
 * role it plays, and gets back the name of a float32 value to compute with.
 * What stands behind that value depends on the export dtype:
 *
 * - `f32`: the float32 initializer itself.
 * - `f16`: a float16 initializer and a `Cast` to float32 (half the file; the
 *   math and the KV cache stay float32, so every EP runs it, shader-f16 or not).
 * - `q8`: matrices as int8 with one float32 scale per output channel
 *   (symmetric, zero point 0) and a standard `DequantizeLinear`; vectors
 *   (norms, biases) stay float32.
 *
 * The bytes are read later, one tensor at a time, by {@link materializeWeights}.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import type { SafetensorsFile, WeightSpec } from "../model/mod.ts";
import type { GraphBuilder } from "./graph_builder.ts";
import type { ElemType, TensorData } from "./proto.ts";

/** How weights are stored in the exported graph. */
export type ExportDtype = "f32" | "f16" | "q8";

/**
 * A weight's role, which fixes its layout and quantization axis:
 * - `matrix`: used as `MatMul(x, W)` with W `[in, out]` (scales per out column);
 * - `rows`: a `[rows, width]` table read by `Gather` or a `Gemm` with
 *   `transB` (embeddings, lm_head; scales per row);
 * - `vector`: a norm weight or bias, always float32.
 */
export type WeightRole = "matrix" | "rows" | "vector";

/** One weight the graph needs, read when the graph is written. */
export interface WeightRequest {
  /** The HF tensor name in model.safetensors. */
  source: string;
  /** Its role. */
  role: WeightRole;
  /** Transpose a 2-D HF tensor first (`nn.Linear` stores `[out, in]`). */
  transpose: boolean;
  /** The dims after the transpose. */
  dims: number[];
  /** Initializer names this request fills: the data, and the scale for q8. */
  initializer: string;
  /** The q8 scale's initializer name. */
  scale?: string;
}

/** Hands out weight values to a decoder description and records what to read. */
export class DecoderWeights {
  readonly requests: WeightRequest[] = [];
  readonly #cache = new Map<string, string>();

  /**
   * @param g the graph being built
   * @param file model.safetensors (only its header is read here)
   * @param dtype how to store the weights
   */
  constructor(
    private readonly g: GraphBuilder,
    private readonly file: SafetensorsFile,
    readonly dtype: ExportDtype,
  ) {}

  /** Whether the checkpoint holds this tensor. */
  has(source: string): boolean {
    return this.file.has(source);
  }

  /**
   * A norm weight or bias, float32.
   *
   * @param source HF tensor name
   * @param expected its expected dims (checked against the header)
   * @returns the value's name
   */
  vector(source: string, expected: readonly number[]): string {
    return this.#request(source, "vector", false, expected);
  }

  /**
   * A `MatMul` right operand `[in, out]`.
   *
   * @param source HF tensor name
   * @param expected its dims as stored in the checkpoint
   * @param transpose whether the checkpoint stores `[out, in]` (`nn.Linear`)
   * @returns the value's name (float32 `[in, out]`)
   */
  matrix(source: string, expected: readonly number[], transpose: boolean): string {
    return this.#request(source, "matrix", transpose, expected);
  }

  /**
   * A `[rows, width]` table (embedding, lm_head).
   *
   * @param source HF tensor name
   * @param expected its dims
   * @returns the value's name (float32)
   */
  rows(source: string, expected: readonly number[]): string {
    return this.#request(source, "rows", false, expected);
  }

  /**
   * A weight as its family describes it: an `out_in` or `in_out` matrix as a `MatMul` right
   * operand `[in, out]`, a table as `[rows, width]`, a vector as itself.
   *
   * @param spec the family's description (src/model/families)
   * @returns the value's name
   */
  get(spec: WeightSpec): string {
    switch (spec.layout) {
      case "out_in":
        return this.matrix(spec.name, spec.shape, true);
      case "in_out":
        return this.matrix(spec.name, spec.shape, false);
      case "rows":
        return this.rows(spec.name, spec.shape);
      case "vector":
        return this.vector(spec.name, spec.shape);
    }
  }

  #request(source: string, role: WeightRole, transpose: boolean, expected: readonly number[]) {
    const key = `${source}|${role}|${transpose}`;
    const hit = this.#cache.get(key);
    if (hit) return hit;
    if (!this.file.has(source)) {
      throw new PrefixEdgeError(
        "UNSUPPORTED_MODEL",
        `Cannot export ONNX: model.safetensors has no tensor "${source}"`,
      );
    }
    const shape = this.file.info(source).shape;
    if (shape.join(",") !== expected.join(",")) {
      throw new PrefixEdgeError(
        "CONFIG_INVALID",
        `Cannot export ONNX: tensor "${source}" has shape [${shape}] but config.json implies [${expected}]`,
      );
    }
    const dims = transpose ? [shape[1], shape[0]] : [...shape];
    const base = transpose ? `${source}.T` : source;
    const req: WeightRequest = { source, role, transpose, dims, initializer: base };
    const g = this.g;
    let value = base;
    if (role !== "vector" && this.dtype === "f16") {
      value = g.op("Cast", [base], { to: 1 });
    } else if (role !== "vector" && this.dtype === "q8") {
      req.initializer = `${base}.q8`;
      req.scale = `${base}.scale`;
      // Symmetric int8: the zero point input is omitted (it defaults to 0).
      value = g.op("DequantizeLinear", [req.initializer, req.scale], {
        axis: role === "matrix" ? 1 : 0,
      });
    }
    this.requests.push(req);
    this.#cache.set(key, value);
    return value;
  }
}

/** One stored tensor, ready to place in the graph or the external data file. */
export interface StoredTensor {
  /** Initializer name. */
  name: string;
  /** Element type. */
  type: ElemType;
  /** Dims. */
  dims: number[];
  /** Little-endian bytes. */
  bytes: Uint8Array;
}

/**
 * Read one requested weight and encode it in the export dtype.
 *
 * @param req the request
 * @param file model.safetensors
 * @param dtype the export dtype
 * @returns the initializers it becomes (one, or the int8 data and its scales)
 */
export async function encodeWeight(
  req: WeightRequest,
  file: SafetensorsFile,
  dtype: ExportDtype,
): Promise<StoredTensor[]> {
  let w = await file.getFloat32(req.source);
  if (req.transpose) w = transpose2d(w, req.dims[1], req.dims[0]);
  if (req.role === "vector" || dtype === "f32") {
    return [{ name: req.initializer, type: "float32", dims: req.dims, bytes: bytesOf(w) }];
  }
  if (dtype === "f16") {
    return [{
      name: req.initializer,
      type: "float16",
      dims: req.dims,
      bytes: bytesOf(Float16Array.from(w)),
    }];
  }
  const { q, scale } = quantizeInt8(w, req.dims[0], req.dims[1], req.role === "matrix" ? 1 : 0);
  return [
    { name: req.initializer, type: "int8", dims: req.dims, bytes: bytesOf(q) },
    { name: req.scale!, type: "float32", dims: [scale.length], bytes: bytesOf(scale) },
  ];
}

/**
 * Symmetric per-channel int8: `q = round(w / s)`, `s = max|w| / 127` over
 * each channel (a column for `axis` 1, a row for `axis` 0).
 *
 * @param w row-major `[rows, cols]`
 * @param rows row count
 * @param cols column count
 * @param axis the channel axis
 * @returns the int8 values and one scale per channel
 */
export function quantizeInt8(
  w: Float32Array,
  rows: number,
  cols: number,
  axis: 0 | 1,
): { q: Int8Array; scale: Float32Array } {
  const scale = new Float32Array(axis === 0 ? rows : cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const ch = axis === 0 ? r : c;
      scale[ch] = Math.max(scale[ch], Math.abs(w[r * cols + c]));
    }
  }
  for (let i = 0; i < scale.length; i++) scale[i] = scale[i] / 127 || 1;
  const q = new Int8Array(w.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const s = scale[axis === 0 ? r : c];
      q[r * cols + c] = Math.max(-127, Math.min(127, Math.round(w[r * cols + c] / s)));
    }
  }
  return { q, scale };
}

function transpose2d(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c];
  }
  return out;
}

function bytesOf(a: Float32Array | Float16Array | Int8Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Where a stored tensor goes. */
export type PlaceTensor = (t: StoredTensor) => Promise<TensorData>;
