/**
 * A minimal ONNX protobuf writer for small graphs (a few nodes, no
 * initializers), so that helper graphs (the on-GPU row gather, column drop and
 * padded concat of the KV cache, benchmark graphs) need no protobuf
 * dependency and no model file. Only the fields those graphs use are
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

/** One node of a {@link Graph}. */
export interface GraphNode {
  /** The operator, e.g. `Pad`. */
  opType: string;
  /** Names of the values it reads (graph inputs or other nodes' outputs), in order. */
  inputs: readonly string[];
  /** Names of the values it writes, in order. */
  outputs: readonly string[];
  /** Integer attributes (e.g. `{ axis: 0 }`). */
  intAttributes?: Readonly<Record<string, number>>;
}

/** A graph of a few nodes; intermediate values need no declared type. */
export interface Graph {
  /** Nodes in topological order. */
  nodes: readonly GraphNode[];
  /** The graph inputs. */
  inputs: readonly ValueInfo[];
  /** The graph outputs. */
  outputs: readonly ValueInfo[];
  /** Default-domain opset version (default 17). */
  opset?: number;
  /** The graph's name (default: the first node's op type, lower case). */
  name?: string;
}

function nodeProto(n: GraphNode, index: number): number[] {
  const attributes = Object.entries(n.intAttributes ?? {}).flatMap(([name, i]) =>
    // AttributeProto: name = 1, i = 3, type = 20 (INT = 2)
    bytes(5, [...str(1, name), ...vint(3, i), ...vint(20, 2)])
  );
  return [
    ...n.inputs.flatMap((v) => str(1, v)),
    ...n.outputs.flatMap((v) => str(2, v)),
    ...str(3, `node${index}`),
    ...str(4, n.opType),
    ...attributes,
  ];
}

/**
 * Encode an ONNX model (IR version 8) of a few nodes.
 *
 * @param g the nodes, the graph inputs and outputs
 * @returns the ModelProto bytes, ready for `InferenceSession.create`
 */
export function graphModel(g: Graph): Uint8Array {
  const graph = [
    ...g.nodes.flatMap((n, i) => bytes(1, nodeProto(n, i))),
    ...str(2, g.name ?? g.nodes[0].opType.toLowerCase()),
    ...g.inputs.flatMap((v) => bytes(11, valueInfo(v))),
    ...g.outputs.flatMap((v) => bytes(12, valueInfo(v))),
  ];
  const opset = [...str(1, ""), ...vint(2, g.opset ?? 17)];
  // ModelProto: ir_version = 1, graph = 7, opset_import = 8
  return new Uint8Array([...vint(1, 8), ...bytes(7, graph), ...bytes(8, opset)]);
}

/**
 * Encode a one-node ONNX model (IR version 8).
 *
 * @param g the node, its inputs and outputs
 * @returns the ModelProto bytes, ready for `InferenceSession.create`
 */
export function singleNodeModel(g: SingleNodeGraph): Uint8Array {
  return graphModel({
    nodes: [{
      opType: g.opType,
      inputs: g.inputs.map((v) => v.name),
      outputs: g.outputs.map((v) => v.name),
      intAttributes: g.intAttributes,
    }],
    inputs: g.inputs,
    outputs: g.outputs,
    opset: g.opset,
  });
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

/**
 * The row-select graph of the KV cache: rows `indices` of `data`, without
 * its leading columns: `out = Slice(Gather(data, indices, axis 0), starts,
 * ends, axes)` with `data` f32 `[B, H, S, hd]`, `indices` int64 `[B']`,
 * `starts`, `ends` and `axes` int64 `[1]` (the caller feeds `axes = [2]`), and
 * `out` `[B', H, S', hd]`. One graph, so dropping finished rows and the
 * columns nobody attends to is one run per cache slot.
 *
 * @returns the ModelProto bytes
 */
export function selectRowsModel(): Uint8Array {
  return graphModel({
    name: "select_rows",
    nodes: [
      {
        opType: "Gather",
        inputs: ["data", "indices"],
        outputs: ["rows"],
        intAttributes: { axis: 0 },
      },
      { opType: "Slice", inputs: ["rows", "starts", "ends", "axes"], outputs: ["out"] },
    ],
    inputs: [
      { name: "data", type: "float32", dims: ["B", "H", "S", "D"] },
      { name: "indices", type: "int64", dims: ["N"] },
      { name: "starts", type: "int64", dims: [1] },
      { name: "ends", type: "int64", dims: [1] },
      { name: "axes", type: "int64", dims: [1] },
    ],
    outputs: [{ name: "out", type: "float32", dims: ["N", "H", "K", "D"] }],
  });
}

/**
 * The padded-concat graph of two KV caches: each input padded on the left of
 * its sequence axis with zeros, then both stacked along the batch axis:
 * `out = Concat(Pad(a, pads_a), Pad(b, pads_b), axis 0)` with `a` f32
 * `[Ba, H, Sa, hd]`, `b` f32 `[Bb, H, Sb, hd]`, `pads_a` and `pads_b` int64
 * `[8]` (ONNX order: the 4 leading pads, then the 4 trailing ones) and `out`
 * `[Ba + Bb, H, W, hd]`.
 *
 * @returns the ModelProto bytes
 */
export function concatPaddedModel(): Uint8Array {
  return graphModel({
    name: "concat_padded",
    nodes: [
      // No constant_value input: Pad's constant mode pads with zeros.
      { opType: "Pad", inputs: ["a", "pads_a"], outputs: ["a_padded"] },
      { opType: "Pad", inputs: ["b", "pads_b"], outputs: ["b_padded"] },
      {
        opType: "Concat",
        inputs: ["a_padded", "b_padded"],
        outputs: ["out"],
        intAttributes: { axis: 0 },
      },
    ],
    inputs: [
      { name: "a", type: "float32", dims: ["Ba", "H", "Sa", "D"] },
      { name: "b", type: "float32", dims: ["Bb", "H", "Sb", "D"] },
      { name: "pads_a", type: "int64", dims: [8] },
      { name: "pads_b", type: "int64", dims: [8] },
    ],
    outputs: [{ name: "out", type: "float32", dims: ["N", "H", "W", "D"] }],
  });
}
