/**
 * The ONNX protobuf writer: encodes a {@link ModelSpec} into ModelProto bytes
 * as a list of chunks, so that a model's weights are never copied into one
 * JavaScript array on the way to disk. Write-only, and only the fields the
 * project's graphs use; field numbers follow onnx/onnx.proto (IR 8).
 *
 * We write our own instead of depending on an npm protobuf library with the
 * ONNX schema: the project only ever writes ONNX (ONNX Runtime reads it), the
 * ~30 fields it needs fit in this file, and a chunked writer lets multi-GB
 * weight blobs stream to disk without the 2 GB single-buffer limit of
 * generated encoders. See docs/onnx-export.md.
 *
 * @module
 */

/** Element types (ONNX TensorProto.DataType codes). */
export const ELEM_TYPE = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
} as const;

/** An ONNX element type by name. */
export type ElemType = keyof typeof ELEM_TYPE;

/** A graph input, output or typed intermediate value. */
export interface ValueInfo {
  /** The value's name. */
  name: string;
  /** Its element type. */
  type: ElemType;
  /** Its dims: a number is fixed, a string names a dynamic dim (`dim_param`). */
  dims: readonly (number | string)[];
}

/** A tensor's bytes: inside the model, or at an offset of the external data file. */
export type TensorData =
  | { raw: Uint8Array }
  | { external: { location: string; offset: number; length: number } };

/** A constant tensor (initializer or tensor attribute). */
export interface TensorSpec {
  /** The tensor's name. */
  name: string;
  /** Its element type. */
  type: ElemType;
  /** Its dims. */
  dims: readonly number[];
  /** Its little-endian bytes, or where they are. */
  data: TensorData;
}

/** An attribute value, tagged by ONNX attribute type. */
export type AttributeValue =
  | { int: number }
  | { float: number }
  | { ints: readonly number[] }
  | { floats: readonly number[] }
  | { string: string }
  | { tensor: TensorSpec };

/** One node. */
export interface NodeSpec {
  /** The operator, e.g. `MatMul`. */
  opType: string;
  /** The node's unique name. */
  name: string;
  /** Values it reads, in order (`""` = an omitted optional input). */
  inputs: readonly string[];
  /** Values it writes, in order. */
  outputs: readonly string[];
  /** Its attributes by name. */
  attributes?: Readonly<Record<string, AttributeValue>>;
  /** Operator domain (`""` = the default ONNX domain, `com.microsoft` = ORT contrib ops). */
  domain?: string;
}

/** A whole model: one graph and its opset imports. */
export interface ModelSpec {
  /** The graph's name. */
  name: string;
  /** Nodes in topological order. */
  nodes: readonly NodeSpec[];
  /** Graph inputs. */
  inputs: readonly ValueInfo[];
  /** Graph outputs. */
  outputs: readonly ValueInfo[];
  /** Constant tensors. */
  initializers: readonly TensorSpec[];
  /** Opset version per domain (`""` is the default domain). */
  opsets: Readonly<Record<string, number>>;
  /** Written as `producer_name`. */
  producer?: string;
  /** Written as `producer_version`. */
  producerVersion?: string;
  /** Key/value pairs written as `metadata_props`. */
  metadata?: Readonly<Record<string, string>>;
}

/** A protobuf message under construction: a list of byte chunks and their total size. */
class Message {
  readonly parts: Uint8Array[] = [];
  size = 0;

  #push(b: Uint8Array): this {
    this.parts.push(b);
    this.size += b.byteLength;
    return this;
  }

  #key(field: number, wire: number): this {
    return this.#push(varint(field * 8 + wire));
  }

  /** A varint field (int32/int64/enum/bool); negative numbers as 64-bit two's complement. */
  int(field: number, n: number): this {
    return this.#key(field, 0).#push(varint(n));
  }

  /** A float field (wire type 5). */
  float(field: number, f: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, f, true);
    return this.#key(field, 5).#push(b);
  }

  /** A length-delimited bytes field (the chunk is referenced, not copied). */
  bytes(field: number, b: Uint8Array): this {
    return this.#key(field, 2).#push(varint(b.byteLength)).#push(b);
  }

  /** A string field. */
  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  /** An embedded message field. */
  message(field: number, m: Message): this {
    this.#key(field, 2).#push(varint(m.size));
    for (const p of m.parts) this.#push(p);
    return this;
  }
}

function varint(n: number): Uint8Array {
  if (!Number.isSafeInteger(n)) throw new RangeError(`varint: ${n} is not a safe integer`);
  const out: number[] = [];
  if (n < 0) {
    let v = BigInt.asUintN(64, BigInt(n));
    while (v > 127n) {
      out.push(Number(v & 127n) | 128);
      v >>= 7n;
    }
    out.push(Number(v));
  } else {
    while (n > 127) {
      out.push((n % 128) | 128);
      n = Math.floor(n / 128);
    }
    out.push(n);
  }
  return new Uint8Array(out);
}

function valueInfo(v: ValueInfo): Message {
  const shape = new Message();
  for (const d of v.dims) {
    shape.message(1, typeof d === "number" ? new Message().int(1, d) : new Message().string(2, d));
  }
  const tensorType = new Message().int(1, ELEM_TYPE[v.type]).message(2, shape);
  return new Message().string(1, v.name).message(2, new Message().message(1, tensorType));
}

function tensor(t: TensorSpec): Message {
  const m = new Message();
  for (const d of t.dims) m.int(1, d);
  m.int(2, ELEM_TYPE[t.type]).string(8, t.name);
  if ("raw" in t.data) return m.bytes(9, t.data.raw);
  const { location, offset, length } = t.data.external;
  const entry = (k: string, v: string) => new Message().string(1, k).string(2, v);
  return m
    .message(13, entry("location", location))
    .message(13, entry("offset", String(offset)))
    .message(13, entry("length", String(length)))
    .int(14, 1); // data_location = EXTERNAL
}

function attribute(name: string, a: AttributeValue): Message {
  // AttributeProto: name 1, f 2, i 3, s 4, t 5, floats 7, ints 8, type 20
  const m = new Message().string(1, name);
  if ("int" in a) return m.int(3, a.int).int(20, 2);
  if ("float" in a) return m.float(2, a.float).int(20, 1);
  if ("string" in a) return m.string(4, a.string).int(20, 3);
  if ("tensor" in a) return m.message(5, tensor(a.tensor)).int(20, 4);
  if ("floats" in a) {
    for (const f of a.floats) m.float(7, f);
    return m.int(20, 6);
  }
  for (const i of a.ints) m.int(8, i);
  return m.int(20, 7);
}

function node(n: NodeSpec): Message {
  const m = new Message();
  for (const i of n.inputs) m.string(1, i);
  for (const o of n.outputs) m.string(2, o);
  m.string(3, n.name).string(4, n.opType);
  for (const [k, a] of Object.entries(n.attributes ?? {})) m.message(5, attribute(k, a));
  if (n.domain) m.string(7, n.domain);
  return m;
}

/**
 * Encode a model as ModelProto chunks (weights referenced, not copied).
 *
 * @param spec the model
 * @returns the chunks, in file order
 */
export function encodeModelChunks(spec: ModelSpec): Uint8Array[] {
  const graph = new Message();
  for (const n of spec.nodes) graph.message(1, node(n));
  graph.string(2, spec.name);
  for (const t of spec.initializers) graph.message(5, tensor(t));
  for (const v of spec.inputs) graph.message(11, valueInfo(v));
  for (const v of spec.outputs) graph.message(12, valueInfo(v));
  // ModelProto: ir_version 1, producer_name 2, producer_version 3, graph 7, opset_import 8, metadata_props 14
  const model = new Message().int(1, 8);
  if (spec.producer) model.string(2, spec.producer);
  if (spec.producerVersion) model.string(3, spec.producerVersion);
  model.message(7, graph);
  for (const [domain, version] of Object.entries(spec.opsets)) {
    model.message(8, new Message().string(1, domain).int(2, version));
  }
  for (const [k, v] of Object.entries(spec.metadata ?? {})) {
    model.message(14, new Message().string(1, k).string(2, v));
  }
  return model.parts;
}
