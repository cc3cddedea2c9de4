/**
 * The server's default backend order: hardware WebGPU, else the native
 * backend (onnxruntime-node, ~3x faster than single-thread WASM on CPU
 * servers), else WASM (runs everywhere, Deno Deploy included). The inference
 * engine owns the runtimes; this module only orders the candidates and
 * explains each choice, and {@link createEngineWithFallback} tries them in
 * turn, so src/serve never imports an ONNX Runtime package itself.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import type { LoadedModel } from "../model/mod.ts";
import {
  type EngineOptions,
  type ExecutionProvider,
  type GpuProbe,
  InferenceEngine,
  probeGpu,
} from "../infer/mod.ts";

/** One backend to try, and why it is in the list. */
export interface BackendCandidate {
  /** The execution provider. */
  ep: ExecutionProvider;
  /** Why it is tried (for the startup log). */
  reason: string;
}

/**
 * Order the backends to try.
 *
 * @param requested `auto` (or undefined) for the default order, or one provider
 * @param probe what WebGPU offers (default: probe it now)
 * @returns the candidates, best first
 * @throws {PrefixEdgeError} `INVALID_INPUT` for an unknown name
 *
 * @example The order on a machine without a GPU
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { backendCandidates } from "./pick_backend.ts";
 * const list = await backendCandidates("auto", { available: false, hardware: false, description: "no adapter" });
 * assertEquals(list.map((c) => c.ep), ["native", "wasm"]);
 * ```
 */
export async function backendCandidates(
  requested: string | undefined,
  probe?: GpuProbe,
): Promise<BackendCandidate[]> {
  if (requested && requested !== "auto") {
    if (!["webgpu", "native", "wasm"].includes(requested)) {
      throw new PrefixEdgeError(
        "INVALID_INPUT",
        `Cannot use execution provider '${requested}': choose auto, webgpu, native or wasm`,
      );
    }
    return [{ ep: requested as ExecutionProvider, reason: "as requested" }];
  }
  const gpu = probe ?? await probeGpu();
  const out: BackendCandidate[] = [];
  if (gpu.hardware) {
    out.push({ ep: "webgpu", reason: `hardware WebGPU adapter (${gpu.description})` });
  }
  const noGpu = gpu.available
    ? `the only WebGPU adapter is software (${gpu.description}), ~100x slower than CPU backends`
    : `no WebGPU adapter (${gpu.description})`;
  out.push({
    ep: "native",
    reason: gpu.hardware ? "fallback after WebGPU" : `${noGpu}; native CPU backend is fastest`,
  });
  out.push({ ep: "wasm", reason: "portable fallback (runs everywhere, Deno Deploy included)" });
  return out;
}

/**
 * Create an engine on the first backend that loads.
 *
 * @param model the base model
 * @param requested `auto` or one provider (then no fallback)
 * @param log receives one line per attempt and the final choice
 * @param probe WebGPU probe result (default: probe now)
 * @param engineOptions the engine's other options (`draftTokens`, threads)
 * @returns the engine and the reason for its backend
 * @throws {PrefixEdgeError} the last backend's error when none loads
 *
 * @example Start on the best backend
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { loadModel } from "../model/mod.ts";
 * import { createEngineWithFallback } from "./pick_backend.ts";
 * const model = await loadModel("models/stories260K");
 * const log: string[] = [];
 * // "auto" tries hardware WebGPU, native, then WASM; one provider is used as is.
 * const { engine, reason } = await createEngineWithFallback(model, "wasm", (l) => log.push(l));
 * assertEquals([engine.executionProvider, reason], ["wasm", "as requested"]);
 * assertEquals(log, ["backend: wasm (as requested)"]);
 * await engine.dispose();
 * ```
 */
export async function createEngineWithFallback(
  model: LoadedModel,
  requested: string | undefined,
  log: (line: string) => void = () => {},
  probe?: GpuProbe,
  engineOptions: Omit<EngineOptions, "executionProvider"> = {},
): Promise<{ engine: InferenceEngine; reason: string }> {
  const candidates = await backendCandidates(requested, probe);
  let last: unknown;
  for (const c of candidates) {
    try {
      const engine = await InferenceEngine.create(model, {
        ...engineOptions,
        executionProvider: c.ep,
      });
      log(`backend: ${c.ep} (${c.reason})`);
      return { engine, reason: c.reason };
    } catch (e) {
      last = e;
      if (
        candidates.length > 1 && e instanceof PrefixEdgeError &&
        (e.code === "BACKEND_UNAVAILABLE" || e.code === "GPU_UNAVAILABLE")
      ) {
        log(`backend: ${c.ep} unavailable (${e.message}); trying the next one`);
        continue;
      }
      throw e;
    }
  }
  throw last;
}
