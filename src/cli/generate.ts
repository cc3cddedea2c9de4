/**
 * `deno task generate`: stream text from a base model, optionally steered by
 * a folded prefix. With no arguments it tells a story with the embedded
 * default model (models/stories260K), greedy from BOS.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { PrefixEdgeError } from "../errors/mod.ts";
import {
  formatTaskPrompt,
  loadTaskPrefix,
  taskEosTokenIds,
  type TaskUsage,
} from "../bundle/mod.ts";
import { type ExecutionProvider, InferenceEngine } from "../infer/mod.ts";
import { type LoadedModel, loadModel, type Prefix, SafetensorsFile } from "../model/mod.ts";
import {
  type CliSpec,
  type CliValues,
  numberOption,
  parseCli,
  runCli,
  UsageError,
} from "./_args.ts";

const DEFAULT_MODEL = fileURLToPath(new URL("../../models/stories260K", import.meta.url));

const SPEC: CliSpec = {
  usage: "deno task generate [--model DIR] [--bundle FILE] [--prompt TEXT] [options]",
  description: "Generate text with a base model and an optional prefix, streaming it to stdout.\n" +
    "With no arguments, tells a story with the embedded model models/stories260K (greedy from BOS).",
  options: {
    model: {
      type: "string",
      valueName: "DIR",
      description: "HF model folder with onnx/model.onnx (default: models/stories260K)",
    },
    bundle: {
      type: "string",
      valueName: "FILE",
      description:
        "prefix bundle (*.prefix.zip, path or http(s) URL) or a PEFT prefix-tuning adapter folder; its task's prompt layout (e.g. the ' ||' separator) and generation defaults apply",
    },
    "prefix-kv": {
      type: "string",
      valueName: "FILE",
      description: "safetensors file holding a bare folded prefix `kv` [P, S] (no checks)",
    },
    prompt: {
      type: "string",
      valueName: "TEXT",
      description: "prompt text (default: empty, i.e. start from BOS)",
    },
    "max-new-tokens": {
      type: "string",
      valueName: "N",
      description: "new tokens at most (default: the bundle's, else 256)",
    },
    ep: {
      type: "string",
      valueName: "EP",
      description: "wasm | webgpu | native (default: webgpu on a hardware GPU, else wasm)",
    },
    temperature: {
      type: "string",
      valueName: "T",
      description: "sampling temperature (default: the bundle's, else 0 = greedy)",
    },
    "top-k": {
      type: "string",
      valueName: "K",
      description: "sample among the K most likely tokens",
    },
    "top-p": { type: "string", valueName: "P", description: "nucleus sampling mass" },
    seed: { type: "string", valueName: "N", description: "sampling seed" },
    "num-beams": { type: "string", valueName: "N", description: "beam search width (default 1)" },
    "length-penalty": {
      type: "string",
      valueName: "X",
      description: "beam score / length^X (default 1)",
    },
    stop: { type: "string", valueName: "TEXT", multiple: true, description: "stop string" },
    "wasm-threads": { type: "string", valueName: "N", description: "WASM threads (default 1)" },
    "draft-tokens": {
      type: "string",
      valueName: "N",
      description:
        "most draft tokens a forward pass checks, drafted from the prompt and the text so far; the tokens do not change (default 4, 0 = off)",
    },
  },
};

/**
 * The prefix to run with, from whichever prefix option was given. New prefix
 * sources (a bundle file, a PEFT folder) slot in here.
 *
 * @param values parsed options
 * @param model the base model (bundles are verified against it)
 * @returns the prefix, or `null` for the bare model
 */
async function loadPrefixSource(
  values: CliValues,
  model: LoadedModel,
): Promise<{ prefix: Prefix | null; usage: TaskUsage }> {
  if (typeof values.bundle === "string") return await loadTaskPrefix(values.bundle, { model });
  const path = values["prefix-kv"];
  if (typeof path === "string") return { prefix: await readPrefixKv(path), usage: {} };
  return { prefix: null, usage: {} };
}

/**
 * Read `kv` `[P, S]` (F32) from a safetensors file (the oracle's
 * prefix-*.safetensors files work).
 *
 * @param path the file
 * @returns the prefix (shape checks against the model happen in the engine)
 * @throws {PrefixEdgeError} `FILE_NOT_FOUND`, `SAFETENSORS_CORRUPT`, `PREFIX_MISMATCH`
 */
export async function readPrefixKv(path: string): Promise<Prefix> {
  if ((await Deno.stat(path).catch(() => null))?.isDirectory) {
    throw new PrefixEdgeError(
      "FILE_NOT_FOUND",
      `Cannot read a prefix from ${path}: it is a folder; --prefix-kv takes a .safetensors file (use --bundle for a PEFT adapter folder)`,
    );
  }
  const file = await SafetensorsFile.open(path);
  try {
    const info = file.tensors.get("kv");
    if (!info || info.shape.length !== 2 || info.dtype !== "F32") {
      throw new PrefixEdgeError(
        "PREFIX_MISMATCH",
        `Cannot read a prefix from ${path}: it needs an F32 tensor "kv" of shape [P, S]${
          info ? `, found ${info.dtype} [${info.shape.join(", ")}]` : ""
        }`,
      );
    }
    return { prefixLen: info.shape[0], kv: await file.getFloat32("kv") };
  } finally {
    file.close();
  }
}

async function main(): Promise<void> {
  const values = parseCli(SPEC, Deno.args);
  if (!values) return;
  if (values.bundle !== undefined && values["prefix-kv"] !== undefined) {
    throw new UsageError(
      "Cannot parse arguments: --bundle and --prefix-kv both given; pass one prefix",
    );
  }
  const ep = values.ep as ExecutionProvider | undefined;
  if (ep !== undefined && !["wasm", "webgpu", "native"].includes(ep)) {
    throw new UsageError(`Cannot parse --ep: "${ep}" is not wasm, webgpu or native`);
  }
  // Numbers first: a typo should not wait for the model to load.
  const wasmThreads = numberOption(values, "wasm-threads", "int", 1);
  const draftTokens = numberOption(values, "draft-tokens", "int", 0);
  const given = {
    maxNewTokens: numberOption(values, "max-new-tokens", "int", 0),
    temperature: numberOption(values, "temperature", "float", 0),
    topK: numberOption(values, "top-k", "int", 0),
    topP: numberOption(values, "top-p"),
    seed: numberOption(values, "seed", "int"),
    numBeams: numberOption(values, "num-beams", "int", 1),
    lengthPenalty: numberOption(values, "length-penalty"),
    stop: values.stop as string[] | undefined,
  };
  const model = await loadModel((values.model as string | undefined) ?? DEFAULT_MODEL);
  if (values.prompt !== undefined && values.prompt !== "" && !model.tokenizer) {
    throw new PrefixEdgeError(
      "TOKENIZER_MISSING",
      `Cannot encode --prompt: ${model.paths.dir} has no tokenizer.json (without one, generation starts from no tokens and prints token ids)`,
    );
  }
  const { prefix, usage } = await loadPrefixSource(values, model);
  const engine = await InferenceEngine.create(model, {
    executionProvider: ep,
    wasmThreads,
    draftTokens,
  });
  // A bundle's task is prompted as it was trained, and its generation defaults fill what the
  // flags leave out.
  const raw = (values.prompt as string | undefined) ?? "";
  const prompt = raw === "" ? raw : formatTaskPrompt(raw, usage.prompt);
  const g = usage.generation;
  const options = {
    ...given,
    maxNewTokens: given.maxNewTokens ?? g?.maxNewTokens ?? 256,
    temperature: given.temperature ?? g?.temperature,
    stop: given.stop ?? (g?.stop.length ? g.stop : undefined),
    ...(g ? { eosTokenIds: taskEosTokenIds(g.eosTokenIds, engine.eosTokenIds) } : {}),
    prefix,
  };
  const out = (s: string) => Deno.stdout.writeSync(new TextEncoder().encode(s));
  try {
    const started = performance.now();
    const stream = model.tokenizer
      ? engine.generate({ prompt, ...options })
      : engine.generate({ inputIds: [], ...options });
    out(prompt);
    // Without a tokenizer there is no text: print the ids instead.
    for await (const piece of stream) out(model.tokenizer ? piece.text : `${piece.tokenId} `);
    out("\n");
    const r = await stream.result;
    const s = (performance.now() - started) / 1000;
    console.error(
      `[${engine.executionProvider}] ${r.tokenIds.length} tokens in ${s.toFixed(2)} s (${
        (r.tokenIds.length / s).toFixed(1)
      } tokens/s), finish: ${r.finishReason}${
        // The engine stops early when prompt + prefix + new tokens fill the positions.
        r.finishReason === "length" && r.tokenIds.length < options.maxNewTokens
          ? ` (the context of ${model.config.maxPositions} positions is full)`
          : ""}${prefix ? `, prefix P=${prefix.prefixLen}` : ""}${
        // Each kept draft token saved a forward pass (--draft-tokens).
        r.draftedTokens > 0
          ? `, drafts: ${r.acceptedDraftTokens} of ${r.draftedTokens} kept`
          : ""}`,
    );
  } finally {
    await engine.dispose();
  }
}

if (import.meta.main) await runCli(main);
