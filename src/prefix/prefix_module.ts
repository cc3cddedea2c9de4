/**
 * The prefix module (docs/design.md §1): the trained parameters that produce the
 * prefix keys/values, and `fold()` which collapses them into a plain
 * {@link Prefix} for serving.
 *
 * Shapes (P = prefixLen, m = midDim, d = d_model, S = 2*L*D):
 *
 * | reparam    | parameters                                                | R = ...                        |
 * | ---------- | --------------------------------------------------------- | ------------------------------ |
 * | `none`     | `E [P,S]`                                                 | `E`                            |
 * | `mlp`      | `E [P,d]`, `W1 [d,m]`, `b1 [m]`, `W2 [m,S]`, `b2 [S]`     | `tanh(E W1 + b1) W2 + b2`      |
 * | `residual` | `E [P,S]`, `W1 [S,m]`, `b1 [m]`, `W2 [m,S]`, `b2 [S]`     | `E + tanh(E W1 + b1) W2 + b2`  |
 *
 * With `gate`, a `[P]` parameter `a` scales each token's row: `kv[p,:] = sigmoid(a[p]) * R[p,:]`.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import { type ModelConfig, type Prefix, prefixWidth, SeededRandom } from "../model/mod.ts";

/** How the prefix is reparameterized (docs/design.md §1). */
export type Reparam = "none" | "mlp" | "residual";

/**
 * Every reparameterization, in the order help texts list them.
 *
 * @example Check a name from the command line
 * ```ts
 * import { ok } from "node:assert";
 * import { REPARAMS } from "./prefix_module.ts";
 * ok((REPARAMS as readonly string[]).includes("residual"));
 * ```
 */
export const REPARAMS: readonly Reparam[] = Object.freeze(["none", "mlp", "residual"]);

/** Names of the prefix module's parameters, in a fixed order. */
export const PARAM_NAMES = ["E", "W1", "b1", "W2", "b2", "a"] as const;

/** One parameter name. */
export type ParamName = typeof PARAM_NAMES[number];

/** The method of a prefix module: what `PrefixModule.options` holds. */
export interface PrefixOptions {
  /** P: number of virtual prefix tokens. */
  prefixLen: number;
  /** Reparameterization: `none`, `mlp` or `residual`. */
  reparam: Reparam;
  /** Whether a learned per-token gate `sigmoid(a)` scales each prefix token. */
  gate: boolean;
  /** m: hidden width of the reparameterization MLP (ignored for `none`). */
  midDim: number;
}

/** Options of {@link PrefixModule.init}: the method plus a seed. */
export interface PrefixInitOptions {
  /** P: number of virtual prefix tokens. */
  prefixLen: number;
  /** Reparameterization (default `residual`). */
  reparam?: Reparam;
  /** Per-token gate (default `true`). */
  gate?: boolean;
  /** MLP hidden width (default 512). */
  midDim?: number;
  /** PRNG seed (default 0). */
  seed?: number;
}

/** Options of {@link PrefixModule.fromParams}: the method plus the parameter values. */
export interface PrefixFromParamsOptions {
  /** P: number of virtual prefix tokens. */
  prefixLen: number;
  /** Reparameterization. */
  reparam: Reparam;
  /** Per-token gate. */
  gate: boolean;
  /** MLP hidden width (ignored for `none`; default 512). */
  midDim?: number;
  /** Parameter values by name (`E`, `W1`, `b1`, `W2`, `b2`, `a` as the method needs). */
  params: Record<string, Float32Array>;
}

/**
 * The shapes of a method's parameters, in {@link PARAM_NAMES} order.
 *
 * @param config the base model's config
 * @param options the method
 * @returns parameter name to shape, only for the parameters the method has
 *
 * @example Shapes of the residual method
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { loadModel } from "../model/mod.ts";
 * import { paramShapes } from "./prefix_module.ts";
 * const model = await loadModel("models/stories260K"); // S = 2 L D = 2 * 5 * 32
 * assertEquals(
 *   paramShapes(model.config, { prefixLen: 4, reparam: "residual", gate: true, midDim: 32 }),
 *   { E: [4, 320], W1: [320, 32], b1: [32], W2: [32, 320], b2: [320], a: [4] },
 * );
 * ```
 */
export function paramShapes(
  config: ModelConfig,
  options: PrefixOptions,
): Partial<Record<ParamName, number[]>> {
  const { prefixLen: P, reparam, gate, midDim: m } = options;
  const S = prefixWidth(config), d = config.hiddenSize;
  const shapes: Partial<Record<ParamName, number[]>> = {};
  if (reparam === "none") {
    shapes.E = [P, S];
  } else {
    const K = reparam === "mlp" ? d : S;
    shapes.E = [P, K];
    shapes.W1 = [K, m];
    shapes.b1 = [m];
    shapes.W2 = [m, S];
    shapes.b2 = [S];
  }
  if (gate) shapes.a = [P];
  return shapes;
}

function checkOptions(config: ModelConfig, o: PrefixOptions): void {
  const bad = (why: string): never => {
    throw new PrefixEdgeError("INVALID_INPUT", `Cannot build the prefix module: ${why}`);
  };
  if (!Number.isInteger(o.prefixLen) || o.prefixLen < 1) {
    bad(`prefixLen must be a positive integer, got ${o.prefixLen}`);
  }
  if (o.prefixLen >= config.maxPositions) {
    bad(
      `prefixLen ${o.prefixLen} leaves no context (the model has ${config.maxPositions} positions)`,
    );
  }
  if (o.reparam !== "none" && o.reparam !== "mlp" && o.reparam !== "residual") {
    bad(`reparam must be none, mlp or residual, got ${JSON.stringify(o.reparam)}`);
  }
  if (typeof o.gate !== "boolean") bad(`gate must be true or false, got ${JSON.stringify(o.gate)}`);
  if (o.reparam !== "none" && (!Number.isInteger(o.midDim) || o.midDim < 1)) {
    bad(`midDim must be a positive integer, got ${o.midDim}`);
  }
}

/**
 * A prefix module: the method's options and its parameters (f32, row-major,
 * shapes from {@link paramShapes}). `params` is updated in place by training.
 *
 * @example Initialize, then fold for serving
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { loadModel } from "../model/mod.ts";
 * import { PrefixModule } from "./prefix_module.ts";
 * const model = await loadModel("models/stories260K");
 * const pm = PrefixModule.init(model.config, { prefixLen: 8, reparam: "residual", gate: true, midDim: 64, seed: 1 });
 * const prefix = pm.fold();
 * assertEquals([prefix.prefixLen, prefix.kv.length], [8, 8 * 320]); // [P, 2 L D]
 * ```
 */
export class PrefixModule {
  /** The base model's config (shapes come from it). */
  readonly config: ModelConfig;
  /** The method. */
  readonly options: PrefixOptions;
  /** Parameters by name; only those the method has. */
  readonly params: Record<string, Float32Array>;

  private constructor(
    config: ModelConfig,
    options: PrefixOptions,
    params: Record<string, Float32Array>,
  ) {
    this.config = config;
    this.options = options;
    this.params = params;
  }

  /**
   * Build a module from existing parameter values (copied).
   *
   * @param config the base model's config
   * @param options the method and the values
   * @returns the module
   * @throws {PrefixEdgeError} `INVALID_INPUT` for bad options, a missing,
   *   extra or wrongly sized parameter, or a non-finite value
   *
   * @example From an oracle fixture
   * ```ts
   * import { deepStrictEqual as assertEquals } from "node:assert";
   * import { loadModel, prefixWidth } from "../model/mod.ts";
   * import { PrefixModule } from "./prefix_module.ts";
   * const model = await loadModel("models/stories260K");
   * const E = new Float32Array(4 * prefixWidth(model.config));
   * const pm = PrefixModule.fromParams(model.config, { prefixLen: 4, reparam: "none", gate: false, params: { E } });
   * assertEquals(pm.fold().prefixLen, 4);
   * ```
   */
  static fromParams(config: ModelConfig, options: PrefixFromParamsOptions): PrefixModule {
    const opts: PrefixOptions = {
      prefixLen: options.prefixLen,
      reparam: options.reparam,
      gate: options.gate,
      midDim: options.reparam === "none" ? (options.midDim ?? 0) : (options.midDim ?? 512),
    };
    checkOptions(config, opts);
    const shapes = paramShapes(config, opts);
    const params: Record<string, Float32Array> = {};
    for (const name of Object.keys(options.params)) {
      if (!(name in shapes)) {
        throw new PrefixEdgeError(
          "INVALID_INPUT",
          `Cannot build the prefix module: parameter "${name}" is not part of reparam=${opts.reparam} gate=${opts.gate} (expected ${
            Object.keys(shapes).join(", ")
          })`,
        );
      }
    }
    for (const [name, shape] of Object.entries(shapes)) {
      const v = options.params[name];
      const n = shape.reduce((x, y) => x * y, 1);
      if (!v) {
        throw new PrefixEdgeError(
          "INVALID_INPUT",
          `Cannot build the prefix module: parameter "${name}" [${shape}] is missing`,
        );
      }
      if (v.length !== n) {
        throw new PrefixEdgeError(
          "INVALID_INPUT",
          `Cannot build the prefix module: parameter "${name}" has ${v.length} values, shape [${shape}] needs ${n}`,
        );
      }
      for (let i = 0; i < v.length; i++) {
        if (!Number.isFinite(v[i])) {
          throw new PrefixEdgeError(
            "INVALID_INPUT",
            `Cannot build the prefix module: ${name}[${i}] is ${v[i]}`,
          );
        }
      }
      params[name] = Float32Array.from(v);
    }
    return new PrefixModule(config, opts, params);
  }

  /**
   * Initialize a module with seeded random values. `E` ~ N(0, 0.02²) for
   * `none`/`residual` (the prefix starts near "no effect"); for `mlp`, `E` ~
   * N(0, 1) as an embedding feeding the MLP (as PEFT does). Linear layers use
   * U(±1/sqrt(fan_in)) (PyTorch's default), except `W2` ~ N(0, (0.02/sqrt(m))²)
   * and `b2 = 0` so the reparameterization starts small. Gate `a = 0` (g = 0.5).
   *
   * @param config the base model's config
   * @param options the method and the seed
   * @returns the module
   * @throws {PrefixEdgeError} `INVALID_INPUT` for bad options
   *
   * @example Residual reparameterization with a gate
   * ```ts
   * import { deepStrictEqual as assertEquals } from "node:assert";
   * import { loadModel } from "../model/mod.ts";
   * import { PrefixModule } from "./prefix_module.ts";
   * const model = await loadModel("models/stories260K");
   * const pm = PrefixModule.init(model.config, { prefixLen: 10, reparam: "residual", gate: true, midDim: 128, seed: 7 });
   * assertEquals(Array.from(pm.gates()), new Array(10).fill(0.5)); // a = 0: every gate starts at 0.5
   * ```
   */
  static init(config: ModelConfig, options: PrefixInitOptions): PrefixModule {
    const reparam = options.reparam ?? "residual";
    const opts: PrefixOptions = {
      prefixLen: options.prefixLen,
      reparam,
      gate: options.gate ?? true,
      midDim: reparam === "none" ? (options.midDim ?? 0) : (options.midDim ?? 512),
    };
    checkOptions(config, opts);
    const rng = new SeededRandom(options.seed ?? 0);
    const shapes = paramShapes(config, opts);
    const size = (n: ParamName) => shapes[n]!.reduce((x, y) => x * y, 1);
    const params: Record<string, Float32Array> = {};
    params.E = rng.normals(size("E"), reparam === "mlp" ? 1 : 0.02);
    if (reparam !== "none") {
      const K = shapes.W1![0], m = opts.midDim;
      params.W1 = rng.uniforms(size("W1"), 1 / Math.sqrt(K));
      params.b1 = rng.uniforms(m, 1 / Math.sqrt(K));
      params.W2 = rng.normals(size("W2"), 0.02 / Math.sqrt(m));
      params.b2 = new Float32Array(size("b2"));
    }
    if (opts.gate) params.a = new Float32Array(opts.prefixLen);
    return new PrefixModule(config, opts, params);
  }

  /** S = 2*L*D: the width of one folded prefix token. */
  get width(): number {
    return prefixWidth(this.config);
  }

  /**
   * The gate values `sigmoid(a)`, or ones when the method has no gate.
   *
   * @returns `[P]` gate weights
   *
   * @example Read the gates
   * ```ts
   * import { deepStrictEqual as assertEquals } from "node:assert";
   * import { loadModel } from "../model/mod.ts";
   * import { PrefixModule } from "./prefix_module.ts";
   * const model = await loadModel("models/stories260K");
   * const pm = PrefixModule.init(model.config, { prefixLen: 4, reparam: "none", gate: true });
   * assertEquals(Array.from(pm.gates()), [0.5, 0.5, 0.5, 0.5]); // sigmoid(0) before training
   * ```
   */
  gates(): Float32Array {
    const P = this.options.prefixLen;
    const g = new Float32Array(P).fill(1);
    if (this.options.gate) {
      const a = this.params.a;
      for (let p = 0; p < P; p++) g[p] = 1 / (1 + Math.exp(-a[p]));
    }
    return g;
  }

  /**
   * Collapse the module into plain keys/values: `kv = g * R`, `[P, S]`
   * (docs/design.md §1 layout). Runs on the CPU in float64 (it is tiny).
   *
   * @returns the folded prefix
   *
   * @example Fold and check against a model
   * ```ts
   * import { loadModel, validatePrefix } from "../model/mod.ts";
   * import { PrefixModule } from "./prefix_module.ts";
   * const model = await loadModel("models/stories260K");
   * const pm = PrefixModule.init(model.config, { prefixLen: 4, reparam: "residual", gate: true, midDim: 16 });
   * const prefix = pm.fold();
   * validatePrefix(model.config, prefix); // throws for a prefix of the wrong width
   * ```
   */
  fold(): Prefix {
    const { prefixLen: P, reparam, midDim: m } = this.options;
    const S = this.width;
    const E = this.params.E;
    const kv = new Float32Array(P * S);
    const g = this.gates();
    if (reparam === "none") {
      for (let p = 0; p < P; p++) {
        for (let s = 0; s < S; s++) kv[p * S + s] = g[p] * E[p * S + s];
      }
      return { prefixLen: P, kv };
    }
    const { W1, b1, W2, b2 } = this.params;
    const K = W1.length / m;
    const hidden = new Float64Array(m);
    const row = new Float64Array(S);
    for (let p = 0; p < P; p++) {
      // hidden = tanh(E[p] W1 + b1): [m]
      for (let j = 0; j < m; j++) hidden[j] = b1[j];
      for (let k = 0; k < K; k++) {
        const e = E[p * K + k];
        if (e === 0) continue;
        const w = k * m;
        for (let j = 0; j < m; j++) hidden[j] += e * W1[w + j];
      }
      for (let j = 0; j < m; j++) hidden[j] = Math.tanh(hidden[j]);
      // row = hidden W2 + b2 (+ E[p] for residual): [S]
      for (let s = 0; s < S; s++) row[s] = b2[s];
      for (let j = 0; j < m; j++) {
        const h = hidden[j], w = j * S;
        for (let s = 0; s < S; s++) row[s] += h * W2[w + s];
      }
      if (reparam === "residual") {
        for (let s = 0; s < S; s++) row[s] += E[p * S + s];
      }
      for (let s = 0; s < S; s++) kv[p * S + s] = g[p] * row[s];
    }
    return { prefixLen: P, kv };
  }
}
