/**
 * Load an HF model folder: `config.json`, optional tokenizer files,
 * `model.safetensors` (training) and `onnx/model.onnx` (inference), from a folder on disk, a
 * URL, or files in memory (src/model/model_files.ts).
 * Nothing heavy is read here: weights and the ONNX graph are opened on demand.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import { type ModelConfig, parseConfig } from "./config.ts";
import {
  type ModelFiles,
  modelFiles,
  type ModelSource,
  type RandomAccessFile,
} from "./model_files.ts";
import { SafetensorsFile } from "./safetensors.ts";
import { TextTokenizer } from "./tokenizer.ts";

/**
 * Names of the files in a model folder; absent files are `undefined`. For a folder on disk
 * these are paths; for a URL, URLs; for files in memory, `<files>/name`.
 */
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
  /** Names of the folder's files. */
  paths: ModelPaths;
  /** The folder's files, wherever they live. */
  files: ModelFiles;
  /** The ONNX graph's path relative to the folder (`onnx/model.onnx` or `model.onnx`), if any. */
  onnxFile?: string;
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
  /**
   * Open the ONNX graph for random access (fingerprints sample it).
   * @throws {PrefixEdgeError} `FILE_NOT_FOUND` when the folder has no ONNX export
   */
  openOnnx(): Promise<RandomAccessFile>;
}

/**
 * Load a model folder in HF layout.
 *
 * @param source a folder path, a `file:` or `http(s):` URL (string or `URL`), a map of relative
 *   paths to bytes or `Blob`s (a dropped folder), or a `ModelFiles`
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
 *
 * @example Load it from files in memory, as a page does with a dropped folder
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { loadModel } from "./load_model.ts";
 * const dir = "models/stories260K";
 * const names = ["config.json", "model.safetensors", "tokenizer.json", "onnx/model.onnx"];
 * const files = Object.fromEntries(
 *   await Promise.all(names.map(async (n) => [n, await Deno.readFile(`${dir}/${n}`)])),
 * );
 * const model = await loadModel(files);
 * assertEquals(model.requireTokenizer().encode("Once upon a time").length > 0, true);
 * assertEquals((await model.openWeights()).tensors.size > 0, true);
 * ```
 */
export async function loadModel(source: ModelSource): Promise<LoadedModel> {
  const files = modelFiles(source);
  const root = files.name;
  const configPath = files.nameOf("config.json");
  const configBytes = await files.read("config.json");
  if (!configBytes) {
    const kind = await files.kind();
    const what = kind === "folder"
      ? "it has no config.json"
      : kind === "file"
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
  const found = async (rel: string) => (await files.has(rel)) ? rel : undefined;
  const name = (rel: string | undefined) => rel && files.nameOf(rel);
  const onnxFile = (await found("onnx/model.onnx")) ?? (await found("model.onnx"));
  const onnxDataFile = onnxFile && await found(`${onnxFile}_data`);
  const weightsFile = await found("model.safetensors");
  const tokenizerFile = await found("tokenizer.json");
  const tokenizerConfigFile = await found("tokenizer_config.json");
  const generationConfigFile = await found("generation_config.json");
  paths.weights = name(weightsFile);
  paths.onnx = name(onnxFile);
  paths.onnxData = name(onnxDataFile);
  paths.tokenizer = name(tokenizerFile);
  paths.tokenizerConfig = name(tokenizerConfigFile);
  paths.generationConfig = name(generationConfigFile);

  const tokenizer = tokenizerFile
    ? await TextTokenizer.fromBytes(
      (await files.read(tokenizerFile))!,
      tokenizerConfigFile ? await files.read(tokenizerConfigFile) : undefined,
      root,
    )
    : null;
  let generationConfig: Record<string, unknown> = {};
  if (generationConfigFile) {
    try {
      generationConfig = JSON.parse(
        new TextDecoder().decode(await files.read(generationConfigFile)),
      );
    } catch (e) {
      throw new PrefixEdgeError(
        "CONFIG_INVALID",
        `Cannot parse ${paths.generationConfig}: ${(e as Error).message}`,
        { cause: e },
      );
    }
  }
  const noOnnx = () =>
    // One line that says what to do: the export is a separate, visible
    // step (it writes into the folder), never a side effect of loading.
    new PrefixEdgeError(
      "FILE_NOT_FOUND",
      paths.weights
        ? `Cannot load the ONNX graph: ${root} has no onnx/model.onnx; export it with: deno task export-onnx --model ${root}`
        : `Cannot load the ONNX graph: ${root} has neither onnx/model.onnx nor model.safetensors to export one from`,
    );

  return {
    config,
    tokenizer,
    paths,
    files,
    onnxFile,
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
    async openWeights() {
      const file = weightsFile && await files.open(weightsFile);
      if (!file) {
        throw new PrefixEdgeError(
          "FILE_NOT_FOUND",
          `Cannot open weights: ${root} has no model.safetensors`,
        );
      }
      return await SafetensorsFile.fromFile(file, paths.weights!);
    },
    async readOnnx() {
      const bytes = onnxFile && await files.read(onnxFile);
      if (!bytes) throw noOnnx();
      return bytes;
    },
    async openOnnx() {
      const file = onnxFile && await files.open(onnxFile);
      if (!file) throw noOnnx();
      return file;
    },
  };
}
