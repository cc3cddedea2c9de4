/** Real prefix bundles for a model, with deterministic random prefixes (no training). */
import { PrefixBundle } from "../../src/bundle/mod.ts";
import { type LoadedModel, type Prefix, prefixWidth } from "../../src/model/mod.ts";

/** A deterministic pseudo-random prefix (values ~U(-2, 2)), big enough to steer a random model. */
export function randomPrefix(model: LoadedModel, P: number, seed: number): Prefix {
  const kv = new Float32Array(P * prefixWidth(model.config));
  let s = seed >>> 0;
  for (let i = 0; i < kv.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    kv[i] = (s / 2 ** 32) * 4 - 2;
  }
  return { prefixLen: P, kv };
}

/** The bytes of a real, verifiable bundle of `P` prefix tokens for `model`. */
export async function realBundle(
  model: LoadedModel,
  task: string,
  P: number,
  seed: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const bundle = await PrefixBundle.create({
    prefix: randomPrefix(model, P, seed),
    model,
    task,
    method: { reparam: "none", gate: false, midDim: null },
    training: { data: "random", steps: 0 },
  });
  return (await bundle.toBytes({ dtype: "F32" })) as Uint8Array<ArrayBuffer>;
}
