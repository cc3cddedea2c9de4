/**
 * `PrefixBundle`: one task's folded prefix plus its manifest, written as a
 * `*.prefix.zip` and read back with every check of docs/bundle-format.md §5.
 *
 * @module
 */
import { REPARAMS } from "../prefix/mod.ts";
import { PrefixEdgeError } from "../errors/mod.ts";
import {
  encodeSafetensors,
  type LoadedModel,
  type Prefix,
  sha256Hex,
  validatePrefix,
} from "../model/mod.ts";
import { BundleError } from "./bundle_error.ts";
import { baseArchitecture, fingerprintKinds, modelFingerprint } from "./fingerprint.ts";
import { DTYPE_BYTES, encodeKv } from "./kv_codec.ts";
import {
  BUNDLE_FORMAT,
  BUNDLE_FORMAT_VERSION,
  type BundleDtype,
  type BundleGeneration,
  type BundleManifest,
  type BundleMethod,
  type BundlePrompt,
  type BundleTraining,
  KV_LAYOUT,
  MAX_MANIFEST_BYTES,
  parseManifest,
  POSITIONS,
} from "./manifest.ts";
import { decodeKvFile, shapeOf } from "./_decode_kv_file.ts";
import { readBounded } from "./_read_bounded.ts";
import { checkManifestConsistent, verifyBase } from "./_verify_base.ts";
import { inflateEntry, readZipDirectory, writeZip } from "./_zip.ts";

/** Default bound on a bundle's size, compressed and per inflated entry (256 MiB). */
export const DEFAULT_BUNDLE_MAX_BYTES = 256 * 1024 * 1024;
/** Slack allowed for the safetensors header beyond the tensor bytes. */
const HEADER_SLACK = 64 * 1024;
const WRITER = "prefix-edge 0.1.0";

/** Options of {@link PrefixBundle.create}. */
export interface CreateBundleOptions {
  /** The folded prefix `[P, S]`. */
  prefix: Prefix;
  /** The base model it was trained on (fingerprinted now). */
  model: LoadedModel;
  /** Task name. */
  task: string;
  /** How the prefix was trained; `gates` are the final `sigmoid(a)`. */
  method: BundleMethod;
  /** Free-form training facts. */
  training?: BundleTraining;
  /** How the prefix was trained to be prompted. */
  prompt?: BundlePrompt;
  /** Generation defaults for the task. */
  generation?: BundleGeneration;
  /** A human name for the base (e.g. its HF id); defaults to config `_name_or_path`. */
  baseName?: string | null;
  /** Creation time (defaults to now). */
  createdAt?: Date;
}

/** Options of {@link PrefixBundle.fromBytes} and {@link PrefixBundle.load}. */
export interface ReadBundleOptions {
  /**
   * The base model to verify against. Pass `null` explicitly to read without
   * verifying the base (inspection only: `baseVerified` is then false).
   */
  model: LoadedModel | null;
  /** Bound on the compressed size and on each inflated entry. */
  maxBytes?: number;
  /** Name used in errors (defaults to the path/URL, or `<bytes>`). */
  source?: string;
}

/** Options of {@link PrefixBundle.toBytes}. */
export interface WriteBundleOptions {
  /** Stored dtype of `kv` (default `F16`). */
  dtype?: BundleDtype;
  /**
   * Deflate the entries (default true). Prefix values are noise-like, so
   * deflate saves only ~7-9% while inflating dominates load time; `false`
   * stores them (see bench/RESULTS.md "Bundles").
   */
  compress?: boolean;
}

/**
 * A verified prefix bundle: `manifest` (as stored) and `prefix` (f32, ready
 * for the engine's `past_key_values`).
 *
 * @example Write a bundle, read it back against the same base
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { loadModel } from "../model/mod.ts";
 * import { PrefixModule } from "../prefix/mod.ts";
 * import { PrefixBundle } from "./prefix_bundle.ts";
 * const model = await loadModel("models/stories260K");
 * const pm = PrefixModule.init(model.config, { prefixLen: 4, reparam: "none", gate: false });
 * const bundle = await PrefixBundle.create({
 *   prefix: pm.fold(), model, task: "stories",
 *   method: { reparam: "none", gate: false, midDim: null },
 *   training: { data: "tiny.jsonl", steps: 0 },
 * });
 * const file = await Deno.makeTempFile({ suffix: ".prefix.zip" });
 * await Deno.writeFile(file, await bundle.toBytes({ dtype: "F16" }));
 * const back = await PrefixBundle.load(file, { model }); // verified against the model
 * assertEquals([back.manifest.task, back.prefix.prefixLen], ["stories", 4]);
 * ```
 */
export class PrefixBundle {
  /** The manifest (for a created bundle: as it would be written in F32). */
  readonly manifest: BundleManifest;
  /** The folded prefix, f32 (I8 and F16 bundles are decoded). */
  readonly prefix: Prefix;
  /** Whether the base model was verified (false only when read with `model: null`). */
  readonly baseVerified: boolean;

  private constructor(manifest: BundleManifest, prefix: Prefix, baseVerified: boolean) {
    this.manifest = manifest;
    this.prefix = prefix;
    this.baseVerified = baseVerified;
  }

  /**
   * Make a bundle from a trained prefix (fingerprints the base; cached).
   *
   * @param opts prefix, model, task, method, training
   * @returns the bundle
   * @throws {PrefixEdgeError} `PREFIX_MISMATCH` / `INVALID_INPUT` for a
   *   prefix that does not fit the model or holds NaN/Inf; `INVALID_INPUT`
   *   for a bad task name or method
   */
  static async create(opts: CreateBundleOptions): Promise<PrefixBundle> {
    const { prefix, model, task, method } = opts;
    const config = model.config;
    validatePrefix(config, prefix, `the prefix for task "${task}"`);
    if (typeof task !== "string" || task.length === 0) {
      throw new PrefixEdgeError("INVALID_INPUT", "Cannot create a bundle: the task name is empty");
    }
    if (!(REPARAMS as readonly string[]).includes(method.reparam)) {
      throw new PrefixEdgeError(
        "INVALID_INPUT",
        `Cannot create a bundle: method.reparam is ${JSON.stringify(method.reparam)}`,
      );
    }
    if (method.gates && method.gates.length !== prefix.prefixLen) {
      throw new PrefixEdgeError(
        "INVALID_INPUT",
        `Cannot create a bundle: method.gates has ${method.gates.length} values for P=${prefix.prefixLen}`,
      );
    }
    const kinds = fingerprintKinds(model);
    if (kinds.length === 0) {
      throw new PrefixEdgeError(
        "INVALID_INPUT",
        `Cannot create a bundle: the model in ${model.paths.dir} has neither model.safetensors nor an ONNX graph to fingerprint`,
      );
    }
    const fps = await Promise.all(kinds.map((k) => modelFingerprint(model, k)));
    const rawName = config.raw._name_or_path;
    const base = {
      name: opts.baseName !== undefined
        ? opts.baseName
        : typeof rawName === "string" && rawName
        ? rawName
        : null,
      architecture: baseArchitecture(config),
      fingerprint: fps[0],
      ...(fps.length > 1 ? { otherFingerprints: fps.slice(1) } : {}),
    };
    const methodOut: BundleMethod = {
      reparam: method.reparam,
      gate: method.gate,
      midDim: method.midDim ?? null,
      ...(method.gates ? { gates: [...method.gates] } : {}),
    };
    const manifest: BundleManifest = {
      format: BUNDLE_FORMAT,
      formatVersion: BUNDLE_FORMAT_VERSION,
      task,
      createdAt: (opts.createdAt ?? new Date()).toISOString(),
      writer: WRITER,
      prefixLen: prefix.prefixLen,
      numLayers: config.numLayers,
      numKvHeads: config.numKvHeads,
      headDim: config.headDim,
      dtype: "F32",
      layout: KV_LAYOUT,
      positions: POSITIONS,
      base,
      tokenizerFingerprint: model.tokenizer?.fingerprint ?? null,
      method: methodOut,
      training: { ...(opts.training ?? {}) },
      sha256: "",
      ...(opts.prompt ? { prompt: { ...opts.prompt } } : {}),
      ...(opts.generation ? { generation: structuredClone(opts.generation) } : {}),
    };
    const kv = Float32Array.from(prefix.kv);
    const st = encodeSafetensors(encodeKv(kv, shapeOf(manifest), "F32"));
    manifest.sha256 = await sha256Hex(st);
    return new PrefixBundle(manifest, { prefixLen: prefix.prefixLen, kv }, true);
  }

  /**
   * Serialize as a zip holding manifest.json and prefix.safetensors.
   *
   * @param opts `dtype` of the stored kv (default F16), `compress` (default true)
   * @returns the bundle's bytes
   * @throws {BundleError} `BUNDLE_NONFINITE` when a value is beyond the F16 range
   */
  async toBytes(opts: WriteBundleOptions = {}): Promise<Uint8Array<ArrayBuffer>> {
    const dtype = opts.dtype ?? "F16";
    if (!(dtype in DTYPE_BYTES)) {
      throw new PrefixEdgeError(
        "INVALID_INPUT",
        `Cannot write bundle "${this.manifest.task}": dtype ${
          JSON.stringify(dtype)
        } is not F32, F16 or I8`,
      );
    }
    let tensors;
    try {
      tensors = encodeKv(this.prefix.kv, shapeOf(this.manifest), dtype);
    } catch (e) {
      throw new BundleError(
        "BUNDLE_NONFINITE",
        this.manifest.task,
        `Cannot write bundle "${this.manifest.task}" as ${dtype}: ${
          (e as Error).message
        } (use F32 or I8)`,
        { cause: e },
      );
    }
    const st = encodeSafetensors(tensors);
    const manifest = { ...this.manifest, dtype, sha256: await sha256Hex(st), writer: WRITER };
    const json = new TextEncoder().encode(JSON.stringify(manifest, null, 2) + "\n");
    return writeZip(
      { "manifest.json": json, "prefix.safetensors": st },
      new Date(manifest.createdAt),
      opts.compress === false ? 0 : 6,
    );
  }

  /**
   * Read and verify a bundle. Nothing in the bytes is trusted: sizes are
   * bounded before and during inflation, the manifest is validated, the
   * checksum, dtype and shape are checked, NaN/Inf refused, and the base
   * model (architecture, weight fingerprint, tokenizer) compared.
   *
   * @param bytes the zip's bytes
   * @param opts `model` to verify against (or `null`), `maxBytes`, `source`
   * @returns the verified bundle
   * @throws {BundleError} `BUNDLE_CORRUPT`, `BUNDLE_TOO_LARGE`,
   *   `BUNDLE_VERSION`, `BUNDLE_CHECKSUM`, `BUNDLE_NONFINITE`,
   *   `BASE_MISMATCH`, `PREFIX_MISMATCH`
   *
   * @example Verify before serving
   * ```ts
   * import { deepStrictEqual as assertEquals } from "node:assert";
   * import { loadModel, prefixWidth } from "../model/mod.ts";
   * import { PrefixBundle } from "./prefix_bundle.ts";
   * const model = await loadModel("models/stories260K");
   * const prefix = { prefixLen: 2, kv: new Float32Array(2 * prefixWidth(model.config)) };
   * const method = { reparam: "none" as const, gate: false, midDim: null };
   * const bytes = await (await PrefixBundle.create({ prefix, model, task: "demo", method })).toBytes();
   * const back = await PrefixBundle.fromBytes(bytes, { model });
   * assertEquals([back.manifest.task, back.prefix.prefixLen], ["demo", 2]);
   * ```
   */
  static async fromBytes(bytes: Uint8Array, opts: ReadBundleOptions): Promise<PrefixBundle> {
    const file = opts.source ?? "<bytes>";
    const maxBytes = opts.maxBytes ?? DEFAULT_BUNDLE_MAX_BYTES;
    if (bytes.byteLength > maxBytes) {
      throw new BundleError(
        "BUNDLE_TOO_LARGE",
        file,
        `Cannot read ${file}: it is ${bytes.byteLength} bytes, over the ${maxBytes}-byte bound`,
      );
    }
    const entries = readZipDirectory(bytes, file);
    const need = (name: string) => {
      const e = entries.get(name);
      if (!e) {
        throw new BundleError(
          "BUNDLE_CORRUPT",
          file,
          `Cannot read ${file}: it has no ${name} (entries: ${
            [...entries.keys()].join(", ") || "none"
          })`,
        );
      }
      return e;
    };
    const manifestEntry = need("manifest.json");
    const tensorEntry = need("prefix.safetensors");
    const manifest = parseManifest(
      inflateEntry(bytes, manifestEntry, Math.min(MAX_MANIFEST_BYTES, maxBytes), file),
      file,
    );
    checkManifestConsistent(manifest, file);
    // Refuse a wrong base before inflating the tensor.
    if (opts.model) await verifyBase(manifest, opts.model, file);

    const shape = shapeOf(manifest);
    const S = 2 * shape.numLayers * shape.numKvHeads * shape.headDim;
    const expected = shape.prefixLen * S * DTYPE_BYTES[manifest.dtype] +
      (manifest.dtype === "I8" ? 2 * shape.numLayers * shape.numKvHeads * 4 : 0);
    // No CRC here: the manifest's sha256 over the same bytes is checked next.
    const stBytes = inflateEntry(
      bytes,
      tensorEntry,
      Math.min(maxBytes, expected + HEADER_SLACK),
      file,
      false,
    );
    const digest = await sha256Hex(stBytes);
    if (digest !== manifest.sha256) {
      throw new BundleError(
        "BUNDLE_CHECKSUM",
        file,
        `Cannot read ${file}: prefix.safetensors has sha256 ${digest} but the manifest says ${manifest.sha256}`,
      );
    }
    const kv = await decodeKvFile(stBytes, manifest, file);
    // Shapes and the context budget were checked against the model in verifyBase
    // (same L, H, hd, maxPositions) and NaN/Inf in decodeTensors.
    const prefix: Prefix = { prefixLen: manifest.prefixLen, kv };
    return new PrefixBundle(manifest, prefix, opts.model !== null);
  }

  /**
   * Read and verify a bundle from a path, a `file:` URL or an `http(s):` URL
   * (fetched with the same size bound, enforced while streaming the body).
   *
   * @param pathOrUrl where the bundle is
   * @param opts `model` to verify against (or `null`), `maxBytes`
   * @returns the verified bundle
   * @throws {BundleError} every code of {@link PrefixBundle.fromBytes}, plus
   *   `FILE_NOT_FOUND` and `BUNDLE_FETCH_FAILED`
   */
  static async load(
    pathOrUrl: string | URL,
    opts: Omit<ReadBundleOptions, "source">,
  ): Promise<PrefixBundle> {
    const maxBytes = opts.maxBytes ?? DEFAULT_BUNDLE_MAX_BYTES;
    const source = String(pathOrUrl);
    const bytes = await readBounded(pathOrUrl, maxBytes);
    return PrefixBundle.fromBytes(bytes, { ...opts, maxBytes, source });
  }
}
