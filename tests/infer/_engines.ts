/**
 * Shared setup for the inference tests: which execution providers this
 * machine can run, one `ignore` flag per provider, and oracle readers.
 */
import * as ort from "onnxruntime-web";
import { type InferenceEngine, probeGpu } from "../../src/infer/mod.ts";
import { type Prefix, SafetensorsFile } from "../../src/model/mod.ts";

/** WebGPU tests run wherever an adapter exists (llvmpipe included: slow but correct). */
export const NO_WEBGPU = !(await probeGpu()).available;

/** Whether npm:onnxruntime-node loads here (it is optional). */
export const NO_NATIVE = await import("onnxruntime-node").then(() => false, () => true);

/** Providers to run the oracle suites on, each with its ignore flag. */
export const PROVIDERS = [
  { ep: "wasm", ignore: false },
  { ep: "webgpu", ignore: NO_WEBGPU },
  { ep: "native", ignore: NO_NATIVE },
] as const;

/** Read `kv` (and `logits`, when present) from an oracle prefix file. */
export async function readOracle(
  path: string,
): Promise<{ prefix: Prefix; logits?: Float32Array }> {
  const f = await SafetensorsFile.open(path);
  try {
    const info = f.info("kv");
    const kv = await f.getFloat32("kv");
    const logits = f.tensors.has("logits") ? await f.getFloat32("logits") : undefined;
    return { prefix: { prefixLen: info.shape[0], kv }, logits };
  } finally {
    f.close();
  }
}

/** A random prefix of the right shape for a model (seeded, small values). */
export function randomPrefix(S: number, P: number, seed = 1, scale = 0.5): Prefix {
  let s = seed >>> 0;
  const kv = new Float32Array(P * S);
  for (let i = 0; i < kv.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    kv[i] = (s / 2 ** 32 - 0.5) * 2 * scale;
  }
  return { prefixLen: P, kv };
}

/** Collect a stream's events and result. */
export async function drain(
  stream: ReturnType<InferenceEngine["generate"]>,
): Promise<{ ids: number[]; texts: string[]; result: Awaited<typeof stream.result> }> {
  const ids: number[] = [], texts: string[] = [];
  for await (const ev of stream) {
    ids.push(ev.tokenId);
    texts.push(ev.text);
  }
  return { ids, texts, result: await stream.result };
}

/**
 * Count downloads of 4-D GPU tensors (cache slots; logits are 3-D) from now until `restore`:
 * a KV cache that goes through the CPU downloads every slot, so a count of 0 shows it stayed on
 * the GPU.
 */
export function countCacheDownloads(): { readonly count: number; restore(): void } {
  const proto = ort.Tensor.prototype as unknown as {
    getData(this: ort.Tensor, release?: boolean): Promise<unknown>;
  };
  const getData = proto.getData;
  let count = 0;
  proto.getData = function (this: ort.Tensor, release?: boolean) {
    if (this.location === "gpu-buffer" && this.dims.length === 4) count++;
    return getData.call(this, release);
  };
  return {
    get count() {
      return count;
    },
    restore: () => (proto.getData = getData),
  };
}
