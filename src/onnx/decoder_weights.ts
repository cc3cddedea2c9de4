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
 * - `q4`: matrices as 4-bit and tables (embeddings, LM head) as 8-bit blocks of
 *   32 in ORT's `MatMulNBits` layout ({@link quantizeBlocks}); a `MatMul` (or
 *   the LM head's `Gemm`) on one becomes `com.microsoft::MatMulNBits`, a
 *   `Gather` from one a dequantizing gather of the rows it reads (standard
 *   ops). A tied table is stored once, for both. Vectors stay float32.
 *
 * The bytes are read later, one tensor at a time, by {@link materializeWeights}.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import type { SafetensorsFile, WeightSpec } from "../model/mod.ts";
import type { GraphBuilder, NodeRequest } from "./graph_builder.ts";
import type { ElemType, TensorData } from "./proto.ts";

/** How weights are stored in the exported graph. */
export type ExportDtype = "f32" | "f16" | "q8" | "q4";

/** The export dtypes, in order of size. */
export const EXPORT_DTYPES: readonly ExportDtype[] = Object.freeze(["f32", "f16", "q8", "q4"]);

/** q4's block: this many consecutive inputs (along K) share one scale. */
export const Q4_BLOCK = 32;

/**
 * q4 with a zero point per 4-bit block (asymmetric, `[min, max]` mapped to 0..15) instead of
 * the symmetric default (ORT's zero point 8, scale fit per block). Measured on the fixtures
 * (docs/onnx-export.md): no better (stories260K rel. L2 3.0e-2 both ways, max |Δ| 1.7 against
 * 1.3, fewer greedy tokens kept) and 3% larger, so off.
 */
export const Q4_ZERO_POINTS = false;

/** The contrib domain of `MatMulNBits`. */
const ORT_CONTRIB = "com.microsoft";

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
  /** The q8 (or q4) scale's initializer name. */
  scale?: string;
  /** q4: the packed 4-bit zero points' initializer name (asymmetric only). */
  zeroPoints?: string;
  /** q4: the `[N, K]` matrix `MatMulNBits` sees (N outputs, K inputs). */
  q4?: { N: number; K: number; bits: 4 | 8 };
}

/** Hands out weight values to a decoder description and records what to read. */
export class DecoderWeights {
  readonly requests: WeightRequest[] = [];
  readonly #cache = new Map<string, string>();
  /** q4: stand-in value name -> its request (no node may read the stand-in itself). */
  readonly #q4 = new Map<string, WeightRequest>();

  /**
   * @param g the graph being built
   * @param file model.safetensors (only its header is read here)
   * @param dtype how to store the weights
   * @param zeroPoints q4 only: store a zero point per block (default {@link Q4_ZERO_POINTS})
   */
  constructor(
    private readonly g: GraphBuilder,
    private readonly file: SafetensorsFile,
    readonly dtype: ExportDtype,
    readonly zeroPoints: boolean = Q4_ZERO_POINTS,
  ) {
    if (dtype === "q4") g.setLowering((node) => this.#lowerQ4(node));
  }

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
    if (role !== "vector" && this.dtype === "q4") {
      // MatMulNBits wants [N, K]: nn.Linear's [out, in] as stored, a Conv1D's [in, out]
      // transposed, a table's [rows, width] as stored.
      const [N, K] = role === "rows" ? dims : [dims[1], dims[0]];
      // Tables (embeddings, the LM head) in 8 bits: in 4 they add about half as much error again.
      const bits = role === "rows" ? 8 : 4;
      req.initializer = `${source}.q${bits}`;
      req.scale = `${source}.q${bits}scale`;
      if (this.zeroPoints && bits === 4) req.zeroPoints = `${source}.q4zp`;
      req.q4 = { N, K, bits };
      value = `${source}.q4:lowered`;
      this.#q4.set(value, req);
    } else if (role !== "vector" && this.dtype === "f16") {
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

  /**
   * q4: a node that reads a 4-bit weight, built as what computes it: `MatMul(x, W)` and the LM
   * head's `Gemm(x, T, transB)` as `MatMulNBits`, `Gather(T, ids)` as a dequantizing gather.
   */
  #lowerQ4(node: NodeRequest): string[] | undefined {
    const { opType, inputs, attrs, opts } = node;
    const at = inputs.findIndex((v) => this.#q4.has(v));
    if (at < 0) return undefined;
    const req = this.#q4.get(inputs[at])!;
    const g = this.g;
    const simpleGemm = opType === "Gemm" && inputs.length === 2 && attrs.transB === 1 &&
      attrs.transA === undefined && attrs.alpha === undefined && attrs.beta === undefined;
    if (
      at === 1 &&
      (opType === "MatMul" && req.role === "matrix" || simpleGemm && req.role === "rows")
    ) {
      const { N, K, bits } = req.q4!;
      const q = [req.initializer, req.scale!, ...(req.zeroPoints ? [req.zeroPoints] : [])];
      return g.opN("MatMulNBits", [inputs[0], ...q], {
        K,
        N,
        bits,
        block_size: Q4_BLOCK,
        accuracy_level: 4, // MLAS quantizes A to int8 per block and computes in int8
      }, { outputs: opts.outputs, domain: ORT_CONTRIB });
    }
    if (at === 0 && opType === "Gather" && req.role === "rows" && (attrs.axis ?? 0) === 0) {
      return [this.#gatherQ4(req, inputs[1], opts.outputs)];
    }
    throw new Error(`DecoderWeights: q4 weight "${req.source}" cannot be read by ${opType}`);
  }

  /**
   * Rows `ids` of a block-quantized table, dequantized to float32 `[...ids, K]` with standard ops.
   * The export stores tables in 8 bits; the 4-bit and zero-point paths serve tables quantized
   * like the matrices (measured that way for docs/onnx-export.md, not exported today).
   */
  #gatherQ4(req: WeightRequest, ids: string, outputs: OpOptionsOutputs): string {
    const g = this.g;
    const { K, bits } = req.q4!;
    const nb = Math.ceil(K / Q4_BLOCK);
    const flat = g.op("Reshape", [ids, g.int64s([-1])]); // [M]
    // Bytes -> their two nibbles, low first: [M, n, bytes] uint8 -> [M, n, 2 * bytes] float32.
    const nibbles = (packed: string, n: number, bytes: number) => {
      const f = g.op("Cast", [g.op("Gather", [packed, flat], { axis: 0 })], { to: 1 });
      const hi = g.op("Floor", [g.op("Mul", [f, g.floats([1 / 16], [])])]);
      const lo = g.op("Sub", [f, g.op("Mul", [hi, g.floats([16], [])])]);
      const last = g.int64s([-1]);
      const pair = g.op("Concat", [g.op("Unsqueeze", [lo, last]), g.op("Unsqueeze", [hi, last])], {
        axis: -1,
      });
      return g.op("Reshape", [pair, g.int64s([-1, n, 2 * bytes])]);
    };
    const q = bits === 8
      ? g.op("Reshape", [
        g.op("Cast", [g.op("Gather", [req.initializer, flat], { axis: 0 })], { to: 1 }),
        g.int64s([-1, nb, Q4_BLOCK]),
      ])
      : nibbles(req.initializer, nb, Q4_BLOCK / 2); // [M, nb, 32]
    let zp = g.floats([2 ** (bits - 1)], []);
    if (req.zeroPoints) {
      const z = nibbles(req.zeroPoints, 1, Math.ceil(nb / 2)); // [M, 1, 2 * ceil(nb / 2)]
      const zn = g.op("Reshape", [z, g.int64s([-1, 2 * Math.ceil(nb / 2), 1])]);
      zp = g.op("Slice", [zn, g.int64s([0]), g.int64s([nb]), g.int64s([1])]); // [M, nb, 1]
    }
    const scale = g.op("Unsqueeze", [
      g.op("Gather", [req.scale!, flat], { axis: 0 }),
      g.int64s([-1]),
    ]);
    let w = g.op("Reshape", [
      g.op("Mul", [g.op("Sub", [q, zp]), scale]),
      g.int64s([-1, nb * Q4_BLOCK]),
    ]);
    if (nb * Q4_BLOCK !== K) w = g.op("Slice", [w, g.int64s([0]), g.int64s([K]), g.int64s([1])]);
    const shape = g.op("Concat", [g.op("Shape", [ids]), g.int64s([K])], { axis: 0 });
    return g.op("Reshape", [w, shape], {}, { outputs });
  }
}

type OpOptionsOutputs = NodeRequest["opts"]["outputs"];

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
 * @param quantize4 q4: how a 4-bit symmetric matrix `[N, K]` is quantized instead of
 *   {@link quantizeBlocks} (GPTQ, when the export is calibrated)
 * @returns the initializers it becomes (one, or the int8 data and its scales)
 */
export async function encodeWeight(
  req: WeightRequest,
  file: SafetensorsFile,
  dtype: ExportDtype,
  quantize4?: (
    w: Float32Array,
    N: number,
    K: number,
  ) => { packed: Uint8Array; scale: Float32Array },
): Promise<StoredTensor[]> {
  let w = await file.getFloat32(req.source);
  if (req.q4) {
    const { N, K, bits } = req.q4;
    // [N, K]: a Conv1D's [in, out] is transposed; nn.Linear's [out, in] and tables are as stored.
    if (req.role === "matrix" && !req.transpose) w = transpose2d(w, K, N);
    const q: { packed: Uint8Array; scale: Float32Array; zeroPoints?: Uint8Array } =
      quantize4 && bits === 4 && req.zeroPoints === undefined
        ? quantize4(w, N, K)
        : quantizeBlocks(w, N, K, bits, req.zeroPoints !== undefined);
    const nb = Math.ceil(K / Q4_BLOCK);
    return [
      { name: req.initializer, type: "uint8", dims: [N, nb, Q4_BLOCK * bits / 8], bytes: q.packed },
      { name: req.scale!, type: "float32", dims: [N, nb], bytes: bytesOf(q.scale) },
      ...(q.zeroPoints
        ? [{
          name: req.zeroPoints!,
          type: "uint8" as const,
          dims: [N, Math.ceil(nb / 2)],
          bytes: q.zeroPoints,
        }]
        : []),
    ];
  }
  if (req.transpose) w = transpose2d(w, req.dims[1], req.dims[0]);
  if (req.role === "vector" || dtype === "f32" || dtype === "q4") {
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

/**
 * Block quantization in ORT's `MatMulNBits` layout (block {@link Q4_BLOCK}): each of the N rows
 * of `w` `[N, K]` is cut into `nb = ceil(K / 32)` blocks of 32 along K (the last one padded), and
 * each block gets one float32 scale and 32 unsigned codes of `bits` bits,
 * `w ≈ scale * (code - zp)`.
 *
 * - Symmetric (no zero points; ORT's default zp is 8 for 4 bits, 128 for 8): the scale is the
 *   one, among `m / c` for c near -8 (m the block's value of largest magnitude; -8 maps m to
 *   code 0) and its least-squares refit, with the least squared error over the block.
 * - Asymmetric (4 bits): `scale = (max - min) / 15` over the block's range widened to hold 0,
 *   and `zp = round(-min / scale)`.
 *
 * Packing (4 bits): `packed[n][b][j]` holds the code of k = 32 b + 2 j in its low nibble and
 * of k = 32 b + 2 j + 1 in its high nibble; 8 bits: one byte per k. Padding holds the zero
 * point, so it dequantizes to 0. Zero points are packed the same way per row,
 * `[N, ceil(nb / 2)]`, block 2 i in the low nibble, 2 i + 1 in the high one.
 *
 * @param w row-major `[N, K]`
 * @param N rows (output channels)
 * @param K columns (inputs)
 * @param bits 4 or 8
 * @param zeroPoints asymmetric, with zero points (4 bits only)
 * @returns the packed codes `[N, nb, 32 * bits / 8]`, the scales `[N, nb]` and the packed zero
 *   points
 *
 * @example One row of two blocks: 32 values, then 8 more and padding
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { quantizeBlocks } from "./decoder_weights.ts";
 * const w = Float32Array.from({ length: 40 }, (_, k) => (k === 1 ? -4 : k === 32 ? 2 : 0));
 * const { packed, scale } = quantizeBlocks(w, 1, 40, 4, false);
 * assertEquals(Array.from(scale), [0.5, -0.25]); // -4 and 2 are each block's code 0
 * assertEquals([packed[0], packed[16], packed[17], packed[31]], [0x08, 0x80, 0x88, 0x88]);
 * ```
 */
export function quantizeBlocks(
  w: Float32Array,
  N: number,
  K: number,
  bits: 4 | 8,
  zeroPoints: boolean,
): { packed: Uint8Array; scale: Float32Array; zeroPoints?: Uint8Array } {
  if (zeroPoints && bits !== 4) throw new Error("quantizeBlocks: zero points need 4 bits");
  const nb = Math.ceil(K / Q4_BLOCK), zpBytes = Math.ceil(nb / 2);
  const top = 2 ** bits - 1, mid = 2 ** (bits - 1);
  const scale = new Float32Array(N * nb);
  const zps = zeroPoints ? new Uint8Array(N * zpBytes) : undefined;
  const codes = new Uint8Array(N * nb * Q4_BLOCK);
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < nb; b++) {
      const k0 = b * Q4_BLOCK, len = Math.min(Q4_BLOCK, K - k0), row = n * K + k0;
      let s: number, zp: number;
      if (zeroPoints) {
        let lo = 0, hi = 0;
        for (let i = 0; i < len; i++) {
          lo = Math.min(lo, w[row + i]);
          hi = Math.max(hi, w[row + i]);
        }
        s = Math.fround((hi - lo) / top);
        zp = s ? Math.max(0, Math.min(top, Math.round(-lo / s))) : mid;
      } else {
        let m = 0;
        for (let i = 0; i < len; i++) if (Math.abs(w[row + i]) > Math.abs(m)) m = w[row + i];
        s = m ? symmetricScale(w, row, len, m, mid) : 0;
        zp = mid;
      }
      const inv = s ? 1 / s : 0;
      const at = (n * nb + b) * Q4_BLOCK;
      codes.fill(zp, at, at + Q4_BLOCK);
      for (let i = 0; i < len; i++) {
        codes[at + i] = Math.max(0, Math.min(top, Math.round(w[row + i] * inv) + zp));
      }
      scale[n * nb + b] = s;
      if (zps) zps[n * zpBytes + (b >> 1)] |= b & 1 ? zp << 4 : zp;
    }
  }
  return { packed: packBlockCodes(codes, N, nb, bits), scale, zeroPoints: zps };
}

/**
 * Pack block codes `[N, nb, 32]` (one code a byte) into `MatMulNBits`' `B` layout: 8 bits as they
 * are; 4 bits two a byte, the even k in the low nibble.
 *
 * @param codes the codes, each in `[0, 2^bits)`
 * @param N rows
 * @param nb blocks per row
 * @param bits 4 or 8
 * @returns `[N, nb, 32 * bits / 8]` bytes
 */
export function packBlockCodes(codes: Uint8Array, N: number, nb: number, bits: 4 | 8): Uint8Array {
  if (bits === 8) return codes.slice(0, N * nb * Q4_BLOCK);
  const packed = new Uint8Array(N * nb * Q4_BLOCK / 2);
  for (let j = 0; j < packed.length; j++) packed[j] = codes[2 * j] | (codes[2 * j + 1] << 4);
  return packed;
}

/**
 * The symmetric scale with the least squared error over one block: candidates `m / c` for c
 * from -1.125 to -0.75 of `mid` (and 0.75 to 0.94 of it, m on the positive side), each refit by
 * least squares to its codes.
 *
 * @param w the weights
 * @param row where the block starts in `w`
 * @param len the block's length
 * @param m the block's value of largest magnitude (not 0)
 * @param mid the zero point (8 for 4 bits)
 * @returns the scale, a float32 value
 */
export function symmetricScale(
  w: Float32Array,
  row: number,
  len: number,
  m: number,
  mid: number,
): number {
  const codeOf = (v: number, inv: number) => Math.max(-mid, Math.min(mid - 1, Math.round(v * inv)));
  const errOf = (s: number) => {
    let err = 0;
    for (let i = 0; i < len; i++) {
      const d = w[row + i] - s * codeOf(w[row + i], 1 / s);
      err += d * d;
    }
    return err;
  };
  let best = Math.fround(m / -mid), bestErr = errOf(best);
  for (let c = -1.125; c <= 0.9375; c += 1 / 32) {
    if (c > -0.75 && c < 0.75) continue;
    const inv = (c * mid) / m;
    let num = 0, den = 0;
    for (let i = 0; i < len; i++) {
      const q = codeOf(w[row + i], inv);
      num += w[row + i] * q;
      den += q * q;
    }
    if (!den) continue;
    const s = Math.fround(num / den), err = errOf(s);
    if (err < bestErr) [best, bestErr] = [s, err];
  }
  return best;
}

function transpose2d(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c];
  }
  return out;
}

function bytesOf(a: Float32Array | Float16Array | Int8Array | Uint8Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Where a stored tensor goes. */
export type PlaceTensor = (t: StoredTensor) => Promise<TensorData>;
