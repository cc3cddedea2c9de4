/**
 * A GPT-2 with random weights, built in memory (no files): for training tests
 * and benchmarks of shapes that no fixture has. Weights are drawn from a fast
 * seeded generator (uniform with the requested standard deviation).
 */
import {
  encodeSafetensors,
  type LoadedModel,
  loadModel,
  memoryFiles,
} from "../../src/model/mod.ts";
import type { TensorToWrite } from "../../src/model/mod.ts";

/** Shape and scale of a random GPT-2. */
export interface RandomGpt2Options {
  layers: number;
  embd: number;
  heads: number;
  vocab: number;
  positions: number;
  /** Standard deviation of the matrices and embeddings (GPT-2 uses 0.02). */
  std?: number;
  /** Standard deviation of the token embedding (default: std). */
  wteStd?: number;
  seed?: number;
}

/** GPT-2 small's shape (12 layers, 768 wide, 12 heads, vocabulary 50257), for benchmarks. */
export const GPT2_SMALL: RandomGpt2Options = Object.freeze({
  layers: 12,
  embd: 768,
  heads: 12,
  vocab: 50257,
  positions: 1024,
  std: 0.02,
  seed: 1,
});

/** Uniform values of standard deviation `std` from a xorshift state (advanced in place). */
export function fill(n: number, std: number, state: { s: number }): Float32Array {
  const out = new Float32Array(n);
  const scale = std * Math.sqrt(3) * 2 / 4294967296; // uniform(-a, a) with a = std * sqrt(3)
  const a = std * Math.sqrt(3);
  let s = state.s;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = (s >>> 0) * scale - a;
  }
  state.s = s;
  return out;
}

/** @returns a LoadedModel whose weights live in memory */
export async function randomGpt2(o: RandomGpt2Options): Promise<LoadedModel> {
  const { raw, bytes } = randomGpt2Checkpoint(o);
  return await inMemoryModel(raw, bytes, "random-gpt2");
}

/**
 * Write a random GPT-2 as a model folder (config.json + model.safetensors), to load the way
 * users do.
 */
export async function writeRandomGpt2(dir: string, o: RandomGpt2Options): Promise<void> {
  const { raw, bytes } = randomGpt2Checkpoint(o);
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(raw, null, 2));
  await Deno.writeFile(`${dir}/model.safetensors`, bytes);
}

/** @returns the config.json object and the model.safetensors bytes of a random GPT-2 */
export function randomGpt2Checkpoint(
  o: RandomGpt2Options,
): { raw: Record<string, unknown>; bytes: Uint8Array } {
  const std = o.std ?? 0.02;
  const C = o.embd;
  const state = { s: (o.seed ?? 1) * 2654435761 >>> 0 || 1 };
  const t: Record<string, TensorToWrite> = {};
  const put = (name: string, shape: number[], s: number | "ones" | "zeros") => {
    const n = shape.reduce((x, y) => x * y, 1);
    const data = s === "ones"
      ? new Float32Array(n).fill(1)
      : s === "zeros"
      ? new Float32Array(n)
      : fill(n, s, state);
    t[name] = { dtype: "F32", shape, data };
  };
  put("transformer.wte.weight", [o.vocab, C], o.wteStd ?? std);
  put("transformer.wpe.weight", [o.positions, C], std);
  for (let l = 0; l < o.layers; l++) {
    const p = `transformer.h.${l}.`;
    put(`${p}ln_1.weight`, [C], "ones");
    put(`${p}ln_1.bias`, [C], "zeros");
    put(`${p}attn.c_attn.weight`, [C, 3 * C], std);
    put(`${p}attn.c_attn.bias`, [3 * C], std);
    put(`${p}attn.c_proj.weight`, [C, C], std);
    put(`${p}attn.c_proj.bias`, [C], std);
    put(`${p}ln_2.weight`, [C], "ones");
    put(`${p}ln_2.bias`, [C], "zeros");
    put(`${p}mlp.c_fc.weight`, [C, 4 * C], std);
    put(`${p}mlp.c_fc.bias`, [4 * C], std);
    put(`${p}mlp.c_proj.weight`, [4 * C, C], std);
    put(`${p}mlp.c_proj.bias`, [C], std);
  }
  put("transformer.ln_f.weight", [C], "ones");
  put("transformer.ln_f.bias", [C], "zeros");
  const bytes = encodeSafetensors(t, {});
  const raw = {
    model_type: "gpt2",
    vocab_size: o.vocab,
    n_positions: o.positions,
    n_embd: C,
    n_layer: o.layers,
    n_head: o.heads,
    activation_function: "gelu_new",
    layer_norm_epsilon: 1e-5,
    eos_token_id: 0,
  };
  return { raw, bytes };
}

/** A {@link LoadedModel} over a config object and safetensors bytes held in memory. */
export function inMemoryModel(
  raw: Record<string, unknown>,
  bytes: Uint8Array,
  name: string,
): Promise<LoadedModel> {
  const files = new Map([
    ["config.json", new TextEncoder().encode(JSON.stringify(raw))],
    ["model.safetensors", bytes],
  ]);
  return loadModel(memoryFiles(files, name));
}
