/**
 * The project's one way to build ONNX graphs: declare inputs, add nodes and
 * constants, declare outputs, then encode. Decoder exports, the KV-cache
 * helper graphs and benchmark graphs are all written with it.
 *
 * Values are plain strings (their names). Node outputs get unique names from
 * the current {@link GraphBuilder.scope} unless given; constants are
 * de-duplicated by value.
 *
 * @module
 */
import { concatBytes } from "../model/mod.ts";
import {
  type AttributeValue,
  type ElemType,
  encodeModelChunks,
  type ModelSpec,
  type NodeSpec,
  type TensorData,
  type TensorSpec,
  type ValueInfo,
} from "./proto.ts";

/**
 * Attribute shorthands: an integer, a list of integers, a string, or a tagged
 * value (`{ float: 1e-5 }`, `{ floats: [...] }`, `{ tensor }`).
 */
export type Attr = number | readonly number[] | string | AttributeValue;

/** Options of one node. */
export interface OpOptions {
  /** Output names, or how many outputs to name automatically (default 1). */
  outputs?: readonly string[] | number;
  /** Operator domain (default: the ONNX domain). */
  domain?: string;
}

/** A node offered to a {@link GraphBuilder.setLowering} lowering. */
export interface NodeRequest {
  /** The operator. */
  opType: string;
  /** The values it reads. */
  inputs: readonly string[];
  /** Its attributes. */
  attrs: Readonly<Record<string, Attr>>;
  /** Output names, domain. */
  opts: OpOptions;
}

/** Builds nodes in place of a requested one and returns their outputs, or declines. */
export type NodeLowering = (node: NodeRequest) => string[] | undefined;

/** What {@link GraphBuilder.toSpec} adds to the graph. */
export interface ModelOptions {
  /** Default-domain opset (default 17). */
  opset?: number;
  /** Extra opset imports, e.g. `{ "com.microsoft": 1 }`. */
  extraOpsets?: Readonly<Record<string, number>>;
  /** `producer_name`. */
  producer?: string;
  /** `producer_version`. */
  producerVersion?: string;
  /** `metadata_props`. */
  metadata?: Readonly<Record<string, string>>;
}

/**
 * Builds one ONNX graph.
 *
 * @example A one-node graph
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { GraphBuilder } from "./graph_builder.ts";
 * const g = new GraphBuilder("double");
 * const x = g.input("x", "float32", ["N"]);
 * g.op("Mul", [x, g.floats([2])], {}, { outputs: ["y"] });
 * g.output("y", "float32", ["N"]);
 * const bytes = g.toBytes(); // ModelProto, ready for InferenceSession.create
 * assertEquals(bytes.byteLength > 0, true);
 * ```
 */
export class GraphBuilder {
  readonly name: string;
  readonly #nodes: NodeSpec[] = [];
  readonly #inputs: ValueInfo[] = [];
  readonly #outputs: ValueInfo[] = [];
  readonly #initializers: TensorSpec[] = [];
  readonly #names = new Set<string>();
  readonly #constants = new Map<string, string>();
  #scope = "";
  #counter = 0;
  #lowering?: NodeLowering;

  /** @param name the graph's name */
  constructor(name: string) {
    this.name = name;
  }

  /**
   * Declare a graph input.
   *
   * @param name its name
   * @param type element type
   * @param dims fixed sizes or named dynamic dims
   * @returns the value's name
   */
  input(name: string, type: ElemType, dims: readonly (number | string)[]): string {
    this.#claim(name);
    this.#inputs.push({ name, type, dims });
    return name;
  }

  /**
   * Declare a graph output (a value some node writes).
   *
   * @param name the value's name
   * @param type element type
   * @param dims fixed sizes or named dynamic dims
   */
  output(name: string, type: ElemType, dims: readonly (number | string)[]): void {
    this.#outputs.push({ name, type, dims });
  }

  /**
   * Add a constant tensor.
   *
   * @param name its name (must be unique)
   * @param type element type
   * @param dims its dims
   * @param data its bytes, or where they are in the external data file
   * @returns the value's name
   */
  initializer(name: string, type: ElemType, dims: readonly number[], data: TensorData): string {
    this.#claim(name);
    this.#initializers.push({ name, type, dims, data });
    return name;
  }

  /**
   * An int64 constant (de-duplicated).
   *
   * @param values its elements
   * @param dims its dims (default: a 1-D tensor of `values.length`; `[]` for a scalar)
   * @returns the value's name
   */
  int64s(values: readonly number[], dims: readonly number[] = [values.length]): string {
    const raw = new Uint8Array(BigInt64Array.from(values, (v) => BigInt(v)).buffer);
    return this.#constant("int64", dims, raw, values);
  }

  /**
   * A float32 constant (de-duplicated).
   *
   * @param values its elements
   * @param dims its dims (default: a 1-D tensor of `values.length`; `[]` for a scalar)
   * @returns the value's name
   */
  floats(values: ArrayLike<number>, dims: readonly number[] = [values.length]): string {
    const raw = new Uint8Array(Float32Array.from(values).buffer);
    return this.#constant("float32", dims, raw, Array.from(values));
  }

  /**
   * Run `fn` with node names prefixed by `scope/` (e.g. one transformer layer).
   *
   * @param scope the prefix
   * @param fn builds the nodes
   * @returns what `fn` returns
   */
  scope<T>(scope: string, fn: () => T): T {
    const outer = this.#scope;
    this.#scope = `${outer}${scope}/`;
    try {
      return fn();
    } finally {
      this.#scope = outer;
    }
  }

  /**
   * Add a node with one output.
   *
   * @param opType the operator
   * @param inputs the values it reads (`""` for an omitted optional input)
   * @param attrs its attributes
   * @param opts output name, domain
   * @returns the output's name
   */
  op(
    opType: string,
    inputs: readonly string[],
    attrs: Readonly<Record<string, Attr>> = {},
    opts: OpOptions = {},
  ): string {
    return this.opN(opType, inputs, attrs, opts)[0];
  }

  /**
   * Install a lowering: each node added after this is first offered to `lower`, which may build
   * other nodes in its place (in order, so the graph stays topologically sorted) and return their
   * outputs, or return `undefined` to keep the node. The nodes it builds are not offered again.
   * The q4 export uses it to turn `MatMul`, `Gemm` and `Gather` on a 4-bit weight into
   * `MatMulNBits` and a dequantizing gather.
   *
   * @param lower the lowering, or `undefined` to remove it
   */
  setLowering(lower: NodeLowering | undefined): void {
    this.#lowering = lower;
  }

  /**
   * Add a node with several outputs.
   *
   * @param opType the operator
   * @param inputs the values it reads
   * @param attrs its attributes
   * @param opts output names or count, domain
   * @returns the outputs' names
   */
  opN(
    opType: string,
    inputs: readonly string[],
    attrs: Readonly<Record<string, Attr>> = {},
    opts: OpOptions = {},
  ): string[] {
    const lower = this.#lowering;
    if (lower) {
      this.#lowering = undefined;
      try {
        const outs = lower({ opType, inputs, attrs, opts });
        if (outs) return outs;
      } finally {
        this.#lowering = lower;
      }
    }
    const name = `${this.#scope}${opType}_${this.#counter++}`;
    const outs = typeof opts.outputs === "object"
      ? [...opts.outputs]
      : Array.from({ length: opts.outputs ?? 1 }, (_, i) => (i === 0 ? name : `${name}:${i}`));
    for (const o of outs) this.#claim(o);
    const attributes: Record<string, AttributeValue> = {};
    for (const [k, v] of Object.entries(attrs)) attributes[k] = toAttribute(v);
    this.#nodes.push({ opType, name, inputs, outputs: outs, attributes, domain: opts.domain });
    return outs;
  }

  /**
   * The model, ready to encode.
   *
   * @param opts opset, producer and metadata
   * @returns the model spec
   */
  toSpec(opts: ModelOptions = {}): ModelSpec {
    return {
      name: this.name,
      nodes: this.#nodes,
      inputs: this.#inputs,
      outputs: this.#outputs,
      initializers: this.#initializers,
      opsets: { "": opts.opset ?? 17, ...opts.extraOpsets },
      producer: opts.producer,
      producerVersion: opts.producerVersion,
      metadata: opts.metadata,
    };
  }

  /**
   * Encode the model as ModelProto chunks (for writing large models to disk).
   *
   * @param opts opset, producer and metadata
   * @returns the chunks in file order
   */
  toChunks(opts: ModelOptions = {}): Uint8Array[] {
    return encodeModelChunks(this.toSpec(opts));
  }

  /**
   * Encode the model as one ModelProto buffer (for small graphs).
   *
   * @param opts opset, producer and metadata
   * @returns the bytes, ready for `InferenceSession.create`
   */
  toBytes(opts: ModelOptions = {}): Uint8Array {
    return concatBytes(this.toChunks(opts));
  }

  #claim(name: string): void {
    if (this.#names.has(name)) throw new Error(`GraphBuilder: value "${name}" is defined twice`);
    this.#names.add(name);
  }

  #constant(type: ElemType, dims: readonly number[], raw: Uint8Array, values: unknown): string {
    const key = `${type}|${dims.join(",")}|${JSON.stringify(values)}`;
    let name = this.#constants.get(key);
    if (name === undefined) {
      name = `const_${this.#constants.size}`;
      this.#constants.set(key, name);
      this.initializer(name, type, dims, { raw });
    }
    return name;
  }
}

function toAttribute(v: Attr): AttributeValue {
  if (typeof v === "number") return { int: v };
  if (typeof v === "string") return { string: v };
  if (Array.isArray(v)) return { ints: v as readonly number[] };
  return v as AttributeValue;
}
