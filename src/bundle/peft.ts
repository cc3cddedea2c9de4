/**
 * PEFT prefix-tuning interop: export a bundle to a PEFT adapter folder and
 * import one, so a prefix trained with PyTorch + PEFT can be served here and
 * ours used in PyTorch.
 *
 * A PEFT adapter folder holds `adapter_config.json` (`peft_type:
 * PREFIX_TUNING`) and `adapter_model.safetensors` with `prompt_embeddings`
 * `[P, 2*L*token_dim]`. PEFT's `get_prompt` views that as
 * `[B, P, 2L, H, token_dim/H]`, permutes to `[2L, B, H, P, hd]` and splits
 * in pairs: pair l is (key, value) of layer l. That is exactly this project's
 * `[P, 2L, H, hd]` layout (slot 2l = key, 2l+1 = value), so the tensor is
 * copied unchanged. For GQA models PEFT sets `num_attention_heads` to the
 * number of KV heads and `token_dim` to `H_kv * hd`, which is our `D`.
 * The task's generation defaults and prompt layout travel in `generation_config.json` beside
 * them, where Hugging Face users look. Sources are cited in docs/bundle-format.md §7.
 *
 * @module
 */
import { join } from "pathe";
import { encodeSafetensors, type LoadedModel, SafetensorsFile } from "../model/mod.ts";
import { BundleError } from "./bundle_error.ts";
import type { BundleGeneration, BundleManifest, BundlePrompt, BundleTraining } from "./manifest.ts";
import { PrefixBundle } from "./prefix_bundle.ts";

/** The fields of `adapter_config.json` this module writes and reads. */
export interface PeftPrefixConfig {
  /** Always `PREFIX_TUNING`. */
  peft_type: "PREFIX_TUNING";
  /** Always `CAUSAL_LM` (decoder-only models). */
  task_type: "CAUSAL_LM";
  /** P: number of prefix tokens. */
  num_virtual_tokens: number;
  /** L: number of transformer layers. */
  num_layers: number;
  /** D: width of one layer's key (or value) per prefix token (`num_key_value_heads * head_dim`). */
  token_dim: number;
  /** Number of key/value heads (PEFT's view splits `token_dim` by it). */
  num_attention_heads: number;
  /** Always 1 for decoder-only models. */
  num_transformer_submodules: 1;
  /** false: `prompt_embeddings` holds the folded keys/values directly. */
  prefix_projection: boolean;
  /** Width of PEFT's projection MLP (unused when `prefix_projection` is false). */
  encoder_hidden_size: number;
  /** Whether the adapter was saved for inference only. */
  inference_mode: boolean;
  /** The base model's name or path, as PEFT records it. */
  base_model_name_or_path: string | null;
  /** The base model's revision, as PEFT records it. */
  revision: string | null;
  /** Fields this module does not read are kept. */
  [key: string]: unknown;
}

/** The tensor name PEFT saves a prefix under. */
export const PEFT_TENSOR = "prompt_embeddings";
const MAX_CONFIG_BYTES = 1 << 20;

/**
 * Write a bundle's prefix as a PEFT prefix-tuning adapter folder.
 *
 * @param bundle the bundle (its prefix is written in F32)
 * @param dir folder to create or overwrite the two files in
 * @returns the adapter config written
 * @throws {BundleError} `INVALID_INPUT` when `dir` is an existing file
 *
 * @example Export, then load in PyTorch with PeftModel.from_pretrained(base, dir)
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { loadModel, prefixWidth } from "../model/mod.ts";
 * import { exportPeft, PrefixBundle } from "./mod.ts";
 * const model = await loadModel("models/stories260K");
 * const prefix = { prefixLen: 2, kv: new Float32Array(2 * prefixWidth(model.config)) };
 * const method = { reparam: "none" as const, gate: false, midDim: null };
 * const bundle = await PrefixBundle.create({ prefix, model, task: "demo", method });
 * const out = await Deno.makeTempDir();
 * const config = await exportPeft(bundle, out);
 * assertEquals(config.num_virtual_tokens, 2);
 * ```
 */
export async function exportPeft(bundle: PrefixBundle, dir: string): Promise<PeftPrefixConfig> {
  const m = bundle.manifest;
  const D = m.numKvHeads * m.headDim;
  const config: PeftPrefixConfig = {
    peft_type: "PREFIX_TUNING",
    task_type: "CAUSAL_LM",
    num_virtual_tokens: m.prefixLen,
    num_layers: m.numLayers,
    token_dim: D,
    num_attention_heads: m.numKvHeads,
    num_transformer_submodules: 1,
    // The stored tensor is already the folded output: PEFT must not project it again.
    prefix_projection: false,
    encoder_hidden_size: D,
    inference_mode: true,
    base_model_name_or_path: m.base.name,
    revision: null,
    auto_mapping: null,
  };
  const existing = await Deno.stat(dir).catch(() => null);
  if (existing && !existing.isDirectory) {
    throw new BundleError(
      "INVALID_INPUT",
      dir,
      `Cannot export a PEFT adapter to ${dir}: it is a file, and an adapter is a folder`,
    );
  }
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    join(dir, "adapter_config.json"),
    JSON.stringify(config, null, 2) + "\n",
  );
  const generationConfig = toGenerationConfig(m);
  if (generationConfig) {
    await Deno.writeTextFile(
      join(dir, GENERATION_CONFIG),
      JSON.stringify(generationConfig, null, 2) + "\n",
    );
  }
  await Deno.writeFile(
    join(dir, "adapter_model.safetensors"),
    encodeSafetensors(
      {
        [PEFT_TENSOR]: {
          dtype: "F32",
          shape: [m.prefixLen, 2 * m.numLayers * D],
          data: bundle.prefix.kv,
        },
      },
      { format: "pt" },
    ),
  );
  return config;
}

/** Options of {@link importPeft}. */
export interface ImportPeftOptions {
  /** The base model to check the adapter against (and fingerprint). */
  model: LoadedModel;
  /** Task name (defaults to the folder's name). */
  task?: string;
  /** Extra training facts to record. */
  training?: BundleTraining;
}

/**
 * Read a PEFT prefix-tuning adapter folder as a bundle.
 *
 * @param dir the adapter folder
 * @param opts base model, task name, training facts
 * @returns a bundle for the base model
 * @throws {BundleError} `PEFT_INVALID` for a folder that is not a causal-LM
 *   prefix-tuning adapter, `PREFIX_MISMATCH` when its shape does not fit the
 *   model, `BUNDLE_NONFINITE` for NaN/Inf, `FILE_NOT_FOUND`
 *
 * @example Serve a prefix trained with PEFT
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { loadModel, prefixWidth } from "../model/mod.ts";
 * import { exportPeft, importPeft, PrefixBundle } from "./mod.ts";
 * const model = await loadModel("models/stories260K");
 * const prefix = { prefixLen: 2, kv: new Float32Array(2 * prefixWidth(model.config)) };
 * const method = { reparam: "none" as const, gate: false, midDim: null };
 * const dir = await Deno.makeTempDir(); // a PEFT adapter folder, here written by exportPeft
 * await exportPeft(await PrefixBundle.create({ prefix, model, task: "demo", method }), dir);
 * const bundle = await importPeft(dir, { model, task: "sentiment" });
 * assertEquals([bundle.manifest.task, (await bundle.toBytes()).byteLength > 0], ["sentiment", true]);
 * ```
 */
export async function importPeft(dir: string, opts: ImportPeftOptions): Promise<PrefixBundle> {
  const { model } = opts;
  const c = model.config;
  const bad = (why: string, code: "PEFT_INVALID" | "PREFIX_MISMATCH" = "PEFT_INVALID"): never => {
    throw new BundleError(code, dir, `Cannot import the PEFT adapter in ${dir}: ${why}`);
  };
  const cfgPath = join(dir, "adapter_config.json");
  let cfgText: string;
  try {
    const stat = await Deno.stat(cfgPath);
    if (stat.size > MAX_CONFIG_BYTES) bad(`adapter_config.json is ${stat.size} bytes`);
    cfgText = await Deno.readTextFile(cfgPath);
  } catch (e) {
    if (e instanceof BundleError) throw e;
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
      const what = await Deno.stat(dir).then(
        (s) =>
          s.isDirectory
            ? "it has no adapter_config.json"
            : "it is a file, not a PEFT adapter folder (adapter_config.json + adapter_model.safetensors)",
        () => "no such folder",
      );
      throw new BundleError("FILE_NOT_FOUND", dir, `Cannot import ${dir}: ${what}`, { cause: e });
    }
    throw e;
  }
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(cfgText);
  } catch (e) {
    return bad(`adapter_config.json is not JSON (${(e as Error).message})`);
  }
  if (cfg === null || typeof cfg !== "object" || Array.isArray(cfg)) {
    bad("adapter_config.json is not an object");
  }
  if (cfg.peft_type !== "PREFIX_TUNING") {
    bad(`peft_type is ${JSON.stringify(cfg.peft_type)}, not "PREFIX_TUNING"`);
  }
  if (cfg.task_type !== undefined && cfg.task_type !== null && cfg.task_type !== "CAUSAL_LM") {
    bad(
      `task_type is ${
        JSON.stringify(cfg.task_type)
      }; only CAUSAL_LM adapters apply to a decoder-only model`,
    );
  }
  const subs = cfg.num_transformer_submodules ?? 1;
  if (subs !== 1) bad(`num_transformer_submodules is ${subs}; a decoder-only model has 1`);
  const int = (k: string): number => {
    const v = cfg[k];
    if (!Number.isSafeInteger(v) || (v as number) < 1) {
      bad(`${k} is ${JSON.stringify(v)}, not a positive integer`);
    }
    return v as number;
  };
  const P = int("num_virtual_tokens");
  const L = int("num_layers");
  const tokenDim = int("token_dim");
  const heads = int("num_attention_heads");
  const D = c.numKvHeads * c.headDim;
  if (L !== c.numLayers) {
    bad(`num_layers is ${L} but the model has ${c.numLayers} layers`, "PREFIX_MISMATCH");
  }
  if (tokenDim !== D) {
    bad(
      `token_dim is ${tokenDim} but the model's key/value width is ${D} (${c.numKvHeads} KV heads x ${c.headDim})`,
      "PREFIX_MISMATCH",
    );
  }
  if (heads !== c.numKvHeads) {
    bad(
      `num_attention_heads is ${heads} but the model has ${c.numKvHeads} key/value heads (PEFT stores the KV head count for GQA models)`,
      "PREFIX_MISMATCH",
    );
  }
  const wPath = join(dir, "adapter_model.safetensors");
  let st: SafetensorsFile;
  try {
    st = await SafetensorsFile.open(wPath);
  } catch (e) {
    const hasBin = await Deno.stat(join(dir, "adapter_model.bin")).then(() => true, () => false);
    throw new BundleError(
      hasBin ? "PEFT_INVALID" : "FILE_NOT_FOUND",
      dir,
      `Cannot import the PEFT adapter in ${dir}: ${
        hasBin
          ? "it holds only adapter_model.bin (pickle); save it with safe_serialization=True"
          : (e as Error).message
      }`,
      { cause: e },
    );
  }
  let kv: Float32Array;
  try {
    const info = st.tensors.get(PEFT_TENSOR);
    if (!info) bad(`adapter_model.safetensors has no "${PEFT_TENSOR}" tensor`);
    const S = 2 * L * D;
    if (info!.shape.length !== 2 || info!.shape[0] !== P || info!.shape[1] !== S) {
      bad(
        `${PEFT_TENSOR} has shape [${
          info!.shape
        }], expected [num_virtual_tokens=${P}, 2*num_layers*token_dim=${S}]`,
        "PREFIX_MISMATCH",
      );
    }
    try {
      kv = await st.getFloat32(PEFT_TENSOR);
    } catch (e) {
      return bad(`${PEFT_TENSOR} is ${info!.dtype}, not a float tensor (${(e as Error).message})`);
    }
  } finally {
    st.close();
  }
  kv = Float32Array.from(kv);
  for (let i = 0; i < kv.length; i++) {
    if (!Number.isFinite(kv[i])) {
      throw new BundleError(
        "BUNDLE_NONFINITE",
        dir,
        `Cannot import the PEFT adapter in ${dir}: ${PEFT_TENSOR}[${i}] is ${kv[i]}`,
      );
    }
  }
  const usage = await readGenerationConfig(dir, bad);
  const projection = cfg.prefix_projection === true;
  const hidden = cfg.encoder_hidden_size;
  const name = typeof cfg.base_model_name_or_path === "string" ? cfg.base_model_name_or_path : null;
  try {
    return await PrefixBundle.create({
      prefix: { prefixLen: P, kv },
      model,
      task: opts.task ?? (dir.replace(/[\\/]+$/, "").split(/[\\/]/).pop() || "peft"),
      // With prefix_projection PEFT saves the projected output, so the tensor is folded either way.
      method: {
        reparam: projection ? "mlp" : "none",
        gate: false,
        midDim: projection && Number.isSafeInteger(hidden) ? hidden as number : null,
      },
      training: {
        source: "peft",
        ...(typeof cfg.peft_version === "string" ? { peftVersion: cfg.peft_version } : {}),
        ...(opts.training ?? {}),
      },
      baseName: name,
      ...usage,
    });
  } catch (e) {
    if (e instanceof BundleError) throw e;
    const pe = e as { code?: string; message: string };
    throw new BundleError(
      pe.code === "PREFIX_MISMATCH" ? "PREFIX_MISMATCH" : "PEFT_INVALID",
      dir,
      `Cannot import the PEFT adapter in ${dir}: ${pe.message}`,
      { cause: e },
    );
  }
}

/**
 * The file beside an exported adapter that holds the task's generation defaults, where Hugging
 * Face users look for them (`GenerationConfig.from_pretrained(dir)`), and the prompt layout under
 * the extra key {@link PROMPT_KEY} (GenerationConfig keeps keys it does not know).
 */
export const GENERATION_CONFIG = "generation_config.json";
/** The key of `generation_config.json` that holds the prompt layout. */
export const PROMPT_KEY = "prefix_edge_prompt";

/** The manifest's usage as Hugging Face `generation_config.json` fields (null when it has none). */
function toGenerationConfig(m: BundleManifest): Record<string, unknown> | null {
  const g = m.generation, p = m.prompt;
  if (!g && !p) return null;
  return {
    ...(g
      ? {
        do_sample: g.temperature > 0,
        ...(g.temperature > 0 ? { temperature: g.temperature } : {}),
        max_new_tokens: g.maxNewTokens,
        eos_token_id: g.eosTokenIds.length === 1 ? g.eosTokenIds[0] : g.eosTokenIds,
        ...(g.stop.length ? { stop_strings: g.stop } : {}),
      }
      : {}),
    ...(p
      ? {
        [PROMPT_KEY]: {
          template: p.template,
          separator: p.separator,
          add_special_tokens: p.addSpecialTokens,
          ...(p.exampleInput !== undefined ? { example_input: p.exampleInput } : {}),
        },
      }
      : {}),
  };
}

/** Read `generation_config.json` beside an adapter, when there is one, as the bundle's usage. */
async function readGenerationConfig(
  dir: string,
  bad: (why: string) => never,
): Promise<{ prompt?: BundlePrompt; generation?: BundleGeneration }> {
  let text: string;
  try {
    const path = join(dir, GENERATION_CONFIG);
    if ((await Deno.stat(path)).size > MAX_CONFIG_BYTES) bad(`${GENERATION_CONFIG} is too large`);
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return {};
    throw e;
  }
  let g: Record<string, unknown>;
  try {
    g = JSON.parse(text);
  } catch (e) {
    return bad(`${GENERATION_CONFIG} is not JSON (${(e as Error).message})`);
  }
  if (g === null || typeof g !== "object" || Array.isArray(g)) {
    bad(`${GENERATION_CONFIG} is not an object`);
  }
  const out: { prompt?: BundlePrompt; generation?: BundleGeneration } = {};
  const maxNew = g.max_new_tokens;
  if (Number.isSafeInteger(maxNew) && (maxNew as number) >= 1) {
    const eos = g.eos_token_id;
    const eosIds = (Array.isArray(eos) ? eos : eos === undefined || eos === null ? [] : [eos])
      .filter((x): x is number => Number.isSafeInteger(x) && x >= 0);
    const t = typeof g.temperature === "number" ? g.temperature : 1;
    const stop = Array.isArray(g.stop_strings)
      ? g.stop_strings.filter((x): x is string => typeof x === "string" && x !== "")
      : typeof g.stop_strings === "string" && g.stop_strings !== ""
      ? [g.stop_strings]
      : [];
    out.generation = {
      temperature: g.do_sample === true ? Math.min(2, Math.max(0, t)) : 0,
      maxNewTokens: maxNew as number,
      stop,
      eosTokenIds: eosIds,
    };
  }
  const p = g[PROMPT_KEY] as Record<string, unknown> | undefined;
  if (p && typeof p === "object" && typeof p.template === "string") {
    if (!p.template.includes("{input}")) bad(`${PROMPT_KEY}.template does not contain {input}`);
    out.prompt = {
      template: p.template,
      separator: typeof p.separator === "string"
        ? p.separator
        : p.template.slice(p.template.indexOf("{input}") + 7),
      addSpecialTokens: p.add_special_tokens !== false,
      ...(typeof p.example_input === "string" ? { exampleInput: p.example_input } : {}),
    };
  }
  return out;
}
