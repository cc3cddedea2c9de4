/**
 * Bundle size and load time, for GPT-2 small and medium shapes at
 * P = 5, 10, 20, 50, in each stored dtype, next to a LoRA r=8 adapter on the
 * same model's attention projections.
 *
 * - bytes/value: the whole `.prefix.zip` (manifest and zip overhead included)
 *   divided by the P*S stored values. The kv is Gaussian noise (a trained
 *   prefix does not compress much either), so this is close to the worst case.
 * - LoRA r=8: r*(in+out) parameters per adapted matrix, on the four d x d
 *   attention projections (q, k, v, o) of every layer, stored as F16 and F32
 *   (safetensors headers ignored).
 * - load: `PrefixBundle.fromBytes(bytes, { model })` (bounded unzip, checksum,
 *   manifest, dtype/shape, NaN scan, decode to f32, base verification with
 *   the fingerprint already cached), median of a few runs. The base model is
 *   a stand-in with GPT-2's config and tiny in-memory weights: weights are
 *   never read when verifying, only the cached fingerprint is compared.
 *
 * Usage: deno run -A bench/bundle_bench.ts   (or: deno task bench bundle)
 */
import { PrefixBundle } from "../src/bundle/mod.ts";
import {
  encodeSafetensors,
  type LoadedModel,
  loadModel,
  memoryFiles,
  SeededRandom,
} from "../src/model/mod.ts";
import { printHelpIfAsked } from "./_help.ts";

printHelpIfAsked(import.meta.url);

const SHAPES = {
  "gpt2-small": { n_layer: 12, n_head: 12, n_embd: 768 },
  "gpt2-medium": { n_layer: 24, n_head: 16, n_embd: 1024 },
};
const PREFIX_LENS = [5, 10, 20, 50];
/** Variants: stored dtype, and whether entries are deflated. */
const VARIANTS = [
  { key: "F32", dtype: "F32", compress: true },
  { key: "F16", dtype: "F16", compress: true },
  { key: "I8", dtype: "I8", compress: true },
  { key: "F16 stored", dtype: "F16", compress: false },
] as const;
const RUNS = 7;

function standInModel(
  name: string,
  shape: { n_layer: number; n_head: number; n_embd: number },
): Promise<LoadedModel> {
  const config = { model_type: "gpt2", vocab_size: 50257, n_positions: 1024, ...shape };
  const weights = encodeSafetensors({
    "wte.weight": { dtype: "F32", shape: [64], data: new Float32Array(64).fill(0.25) },
  });
  return loadModel(
    memoryFiles(
      new Map([
        ["config.json", new TextEncoder().encode(JSON.stringify(config))],
        ["model.safetensors", weights],
      ]),
      `<${name}>`,
    ),
  );
}

/** Deterministic Gaussian noise from the project's seeded generator. */
function gaussian(n: number, seed: number, sigma: number): Float32Array {
  return new SeededRandom(seed).normals(n, sigma);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

// Warm the JIT on every code path (inflate, F16/I8 decode) before timing anything.
{
  const model = await standInModel("warm-up", SHAPES["gpt2-small"]);
  const S = 2 * model.config.numLayers * model.config.hiddenSize;
  const b = await PrefixBundle.create({
    prefix: { prefixLen: 5, kv: gaussian(5 * S, 1, 1.0) },
    model,
    task: "warm-up",
    method: { reparam: "none", gate: false, midDim: null },
  });
  for (const v of VARIANTS) {
    const bytes = await b.toBytes({ dtype: v.dtype, compress: v.compress });
    for (let i = 0; i < 10; i++) await PrefixBundle.fromBytes(bytes, { model });
  }
}

const rows: string[] = [];
rows.push(
  `| model | P | values P*S | B/value ${
    VARIANTS.map((v) => v.key).join(" / ")
  } | F16 bundle | I8 bundle | LoRA r=8 (q,k,v,o) F16 / F32 | load ms ${
    VARIANTS.map((v) => v.key).join(" / ")
  } |`,
  "| --- | --- | --- | --- | --- | --- | --- | --- |",
);
for (const [name, shape] of Object.entries(SHAPES)) {
  const model = await standInModel(name, shape);
  const c = model.config;
  const S = 2 * c.numLayers * c.numKvHeads * c.headDim;
  const d = c.hiddenSize;
  const loraParams = c.numLayers * 4 * 8 * (d + d);
  for (const P of PREFIX_LENS) {
    const bundle = await PrefixBundle.create({
      prefix: { prefixLen: P, kv: gaussian(P * S, P, 1.0) },
      model,
      task: `${name}-p${P}`,
      method: { reparam: "residual", gate: true, midDim: 512 },
    });
    const perValue: Record<string, number> = {};
    const sizes: Record<string, number> = {};
    const load: Record<string, number> = {};
    for (const v of VARIANTS) {
      const bytes = await bundle.toBytes({ dtype: v.dtype, compress: v.compress });
      sizes[v.key] = bytes.byteLength;
      perValue[v.key] = bytes.byteLength / (P * S);
      await PrefixBundle.fromBytes(bytes, { model }); // warm: fingerprint cached, JIT
      const times: number[] = [];
      for (let r = 0; r < RUNS; r++) {
        const t0 = performance.now();
        await PrefixBundle.fromBytes(bytes, { model });
        times.push(performance.now() - t0);
      }
      load[v.key] = median(times);
    }
    const kb = (n: number) => `${(n / 1024).toFixed(0)} KiB`;
    rows.push(
      `| ${name} | ${P} | ${P * S} | ${
        VARIANTS.map((v) => perValue[v.key].toFixed(3)).join(" / ")
      } | ${kb(sizes.F16)} | ${kb(sizes.I8)} | ${kb(loraParams * 2)} / ${kb(loraParams * 4)} | ${
        VARIANTS.map((v) => load[v.key].toFixed(1)).join(" / ")
      } |`,
    );
    console.error(`${name} P=${P} done`);
  }
}
console.log(rows.join("\n"));
