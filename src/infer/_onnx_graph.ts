/**
 * Small helper graphs (the on-GPU row gather, column drop and padded concat
 * of the KV cache, benchmark graphs), described as plain node lists and
 * encoded by the project's graph builder (src/onnx), so they need no model
 * file.
 *
 * @module
 */
import { GraphBuilder, type ValueInfo as OnnxValueInfo } from "../onnx/mod.ts";

/** A graph input or output: its element type and shape (a string = a dynamic dim). */
export type ValueInfo = OnnxValueInfo & { type: "float32" | "int64" | "int32" };

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

/**
 * Encode an ONNX model of a few nodes (through the project's
 * {@link GraphBuilder}).
 *
 * @param g the nodes, the graph inputs and outputs
 * @returns the ModelProto bytes, ready for `InferenceSession.create`
 */
export function graphModel(g: Graph): Uint8Array {
  const b = new GraphBuilder(g.name ?? g.nodes[0].opType.toLowerCase());
  for (const v of g.inputs) b.input(v.name, v.type, v.dims);
  for (const n of g.nodes) {
    b.opN(n.opType, n.inputs, n.intAttributes ?? {}, { outputs: n.outputs });
  }
  for (const v of g.outputs) b.output(v.name, v.type, v.dims);
  return b.toBytes({ opset: g.opset ?? 17 });
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

/**
 * Whether an encoded ONNX model has a node of type `opType`. A node's type is stored as
 * plain UTF-8 in the model's bytes, so finding it needs no protobuf decoding; a weight whose
 * bytes spell it by chance is not a concern at these lengths.
 *
 * @param model the encoded model (a graph with external data is only its nodes)
 * @param opType e.g. `GroupQueryAttention`
 * @returns whether the bytes contain it
 */
export function graphHasOp(model: Uint8Array, opType: string): boolean {
  const needle = new TextEncoder().encode(opType);
  for (let i = model.indexOf(needle[0]); i >= 0; i = model.indexOf(needle[0], i + 1)) {
    let j = 1;
    while (j < needle.length && model[i + j] === needle[j]) j++;
    if (j === needle.length) return true;
  }
  return false;
}
