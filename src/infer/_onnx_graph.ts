/**
 * A minimal ONNX protobuf writer for single-node graphs, so that small helper
 * graphs (the on-GPU row gather of the KV cache, benchmark graphs) need no
 * protobuf dependency and no model file. Only the fields those graphs use are
 * written; field numbers follow onnx/onnx.proto.
 *
 * @module
 */

/** Element types the helper graphs use (ONNX TensorProto.DataType codes). */
const ELEM_TYPE = { float32: 1, int64: 7, int32: 6 } as const;

/** A graph input or output: its element type and shape (a string = a dynamic dim). */
export interface ValueInfo {
  /** The value's name. */
  name: string;
  /** Its element type. */
  type: keyof typeof ELEM_TYPE;
  /** Its dims: a number is fixed, a string names a dynamic dim (`dim_param`). */
  dims: readonly (number | string)[];
}

/** One node and its graph. */
export interface SingleNodeGraph {
  /** The operator, e.g. `Gather`. */
  opType: string;
  /** The graph inputs, fed to the node in this order. */
  inputs: readonly ValueInfo[];
  /** The graph outputs, produced by the node in this order. */
  outputs: readonly ValueInfo[];
  /** Integer attributes of the node (e.g. `{ axis: 0 }`). */
  intAttributes?: Readonly<Record<string, number>>;
  /** Default-domain opset version (default 17). */
  opset?: number;
}

function varint(n: number): number[] {
  // Non-negative integers only; every number written here is a small count or code.
  const out: number[] = [];
  while (n > 127) {
    out.push((n & 127) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}
const key = (field: number, wire: number) => varint(field * 8 + wire);
const vint = (field: number, n: number) => [...key(field, 0), ...varint(n)];
const bytes = (field: number, b: number[]) => [...key(field, 2), ...varint(b.length), ...b];
const str = (field: number, s: string) => bytes(field, [...new TextEncoder().encode(s)]);

function valueInfo(v: ValueInfo): number[] {
  // TensorShapeProto.dim: Dimension { dim_value = 1 | dim_param = 2 }
  const shape = v.dims.flatMap((d) => bytes(1, typeof d === "number" ? vint(1, d) : str(2, d)));
  const tensorType = [...vint(1, ELEM_TYPE[v.type]), ...bytes(2, shape)]; // elem_type, shape
  return [...str(1, v.name), ...bytes(2, bytes(1, tensorType))]; // name, type.tensor_type
}

/**
 * Encode a one-node ONNX model (IR version 8).
 *
 * @param g the node, its inputs and outputs
 * @returns the ModelProto bytes, ready for `InferenceSession.create`
 */
export function singleNodeModel(g: SingleNodeGraph): Uint8Array {
  const attributes = Object.entries(g.intAttributes ?? {}).flatMap(([name, i]) =>
    // AttributeProto: name = 1, i = 3, type = 20 (INT = 2)
    bytes(5, [...str(1, name), ...vint(3, i), ...vint(20, 2)])
  );
  const node = [
    ...g.inputs.flatMap((v) => str(1, v.name)),
    ...g.outputs.flatMap((v) => str(2, v.name)),
    ...str(3, "node0"),
    ...str(4, g.opType),
    ...attributes,
  ];
  const graph = [
    ...bytes(1, node),
    ...str(2, g.opType.toLowerCase()),
    ...g.inputs.flatMap((v) => bytes(11, valueInfo(v))),
    ...g.outputs.flatMap((v) => bytes(12, valueInfo(v))),
  ];
  const opset = [...str(1, ""), ...vint(2, g.opset ?? 17)];
  // ModelProto: ir_version = 1, graph = 7, opset_import = 8
  return new Uint8Array([...vint(1, 8), ...bytes(7, graph), ...bytes(8, opset)]);
}

/**
 * The row-gather graph of the KV cache: `out = Gather(data, indices, axis 0)`
 * with `data` f32 `[B, H, S, hd]`, `indices` int64 `[B']` and `out`
 * `[B', H, S, hd]`, every dim dynamic so one session serves all shapes.
 *
 * @returns the ModelProto bytes
 */
export function gatherRowsModel(): Uint8Array {
  return singleNodeModel({
    opType: "Gather",
    inputs: [
      { name: "data", type: "float32", dims: ["B", "H", "S", "D"] },
      { name: "indices", type: "int64", dims: ["N"] },
    ],
    outputs: [{ name: "out", type: "float32", dims: ["N", "H", "S", "D"] }],
    intAttributes: { axis: 0 },
  });
}
