/**
 * Load an HF model folder: `config.json`, optional tokenizer files,
 * `model.safetensors` (training) and `onnx/model.onnx` (inference).
 * Nothing heavy is read here: weights and the ONNX graph are opened on demand.
 *
 * @module
 */
import { join, relative } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";
import { PrefixEdgeError } from "../errors/mod.ts";
import { type ModelConfig, parseConfig } from "./config.ts";
import { SafetensorsFile } from "./safetensors.ts";
import { TextTokenizer } from "./tokenizer.ts";

/** Paths of the files in a model folder; absent files are `undefined`. */
export interface ModelPaths {
  /** The model folder. */
  dir: string;
  /** config.json */
  config: string;
  /** model.safetensors (training; fingerprints) */
  weights?: string;
  /** onnx/model.onnx, or model.onnx at the top (inference) */
  onnx?: string;
  /** The graph's external data (`model.onnx_data` beside it), for weights over 2 GB. */
  onnxData?: string;
  /** tokenizer.json */
  tokenizer?: string;
  /** tokenizer_config.json (special tokens) */
  tokenizerConfig?: string;
  /** generation_config.json */
  generationConfig?: string;
}

/** A model folder, loaded: config and tokenizer parsed, heavy files opened on demand. */
export interface LoadedModel {
  /** The parsed, normalized config. */
  config: ModelConfig;
  /** The tokenizer, or `null` when the folder has no tokenizer.json. */
  tokenizer: TextTokenizer | null;
  /** Paths of the folder's files. */
  paths: ModelPaths;
  /** `generation_config.json`, if present. */
  generationConfig: Record<string, unknown>;
  /**
   * The tokenizer, for APIs that need text.
   *
   * @returns the tokenizer
   * @throws {PrefixEdgeError} `TOKENIZER_MISSING` when the folder has none
   */
  requireTokenizer(): TextTokenizer;
  /**
   * Open `model.safetensors` (header parsed, tensors read lazily). Close it when done.
   * @throws {PrefixEdgeError} `FILE_NOT_FOUND` when the folder has no weights
   */
  openWeights(): Promise<SafetensorsFile>;
  /**
   * Read the ONNX graph's bytes (onnxruntime-web wants bytes, not a path).
   * @throws {PrefixEdgeError} `FILE_NOT_FOUND` when the folder has no ONNX export
   */
  readOnnx(): Promise<Uint8Array>;
}

/**
 * Load a model folder in HF layout.
 *
 * @param dir folder path or `file:` URL
 * @returns the loaded model
 * @throws {PrefixEdgeError} `FILE_NOT_FOUND` (no folder / no config.json),
 *   `CONFIG_INVALID`, `UNSUPPORTED_MODEL`
 *
 * @example Load the embedded default model
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { loadModel } from "./load_model.ts";
 * const model = await loadModel("models/stories260K");
 * assertEquals(model.config.numLayers, 5);
 * ```
 */
export async function loadModel(dir: string | URL): Promise<LoadedModel> {
  const root = typeof dir === "string" ? dir : fromFileUrl(dir);
  const configPath = join(root, "config.json");
  const configBytes = await readIfExists(configPath);
  if (!configBytes) {
    const what = (await isDir(root))
      ? "it has no config.json"
      : (await isFile(root))
      ? "it is a file, not a model folder"
      : "no such folder";
    throw new PrefixEdgeError("FILE_NOT_FOUND", `Cannot load model from ${root}: ${what}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(configBytes));
  } catch (e) {
    throw new PrefixEdgeError(
      "CONFIG_INVALID",
      `Cannot parse ${configPath}: ${(e as Error).message}`,
      { cause: e },
    );
  }
  const config = parseConfig(raw, configPath);

  const paths: ModelPaths = { dir: root, config: configPath };
  const found = async (rel: string) =>
    (await isFile(join(root, rel))) ? join(root, rel) : undefined;
  paths.weights = await found("model.safetensors");
  paths.onnx = (await found("onnx/model.onnx")) ?? (await found("model.onnx"));
  if (paths.onnx) paths.onnxData = await found(`${relative(root, paths.onnx)}_data`);
  paths.tokenizer = await found("tokenizer.json");
  paths.tokenizerConfig = await found("tokenizer_config.json");
  paths.generationConfig = await found("generation_config.json");

  const tokenizer = paths.tokenizer
    ? await TextTokenizer.fromBytes(
      await Deno.readFile(paths.tokenizer),
      paths.tokenizerConfig ? await Deno.readFile(paths.tokenizerConfig) : undefined,
      root,
    )
    : null;
  let generationConfig: Record<string, unknown> = {};
  if (paths.generationConfig) {
    try {
      generationConfig = JSON.parse(await Deno.readTextFile(paths.generationConfig));
    } catch (e) {
      throw new PrefixEdgeError(
        "CONFIG_INVALID",
        `Cannot parse ${paths.generationConfig}: ${(e as Error).message}`,
        { cause: e },
      );
    }
  }

  return {
    config,
    tokenizer,
    paths,
    generationConfig,
    requireTokenizer() {
      if (!tokenizer) {
        throw new PrefixEdgeError(
          "TOKENIZER_MISSING",
          `Cannot encode or decode text: the model folder ${root} has no tokenizer.json (pass token ids instead)`,
        );
      }
      return tokenizer;
    },
    openWeights() {
      if (!paths.weights) {
        throw new PrefixEdgeError(
          "FILE_NOT_FOUND",
          `Cannot open weights: ${root} has no model.safetensors`,
        );
      }
      return SafetensorsFile.open(paths.weights);
    },
    async readOnnx() {
      if (!paths.onnx) {
        // One line that says what to do: the export is a separate, visible
        // step (it writes into the folder), never a side effect of loading.
        throw new PrefixEdgeError(
          "FILE_NOT_FOUND",
          paths.weights
            ? `Cannot load the ONNX graph: ${root} has no onnx/model.onnx; export it with: deno task export-onnx --model ${root}`
            : `Cannot load the ONNX graph: ${root} has neither onnx/model.onnx nor model.safetensors to export one from`,
        );
      }
      return await Deno.readFile(paths.onnx);
    },
  };
}

async function readIfExists(path: string): Promise<Uint8Array | undefined> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw e;
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}
