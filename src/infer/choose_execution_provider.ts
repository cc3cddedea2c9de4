/**
 * Pick the default execution provider: `webgpu` only on a hardware GPU,
 * `wasm` otherwise. ORT's WebGPU EP on a software rasterizer (Mesa llvmpipe,
 * SwiftShader) decodes ~100x slower than WASM, so a software adapter does not
 * count.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import type { ExecutionProvider } from "./ort_backend.ts";

/** What the WebGPU probe found. */
export interface GpuProbe {
  /** Whether any adapter exists. */
  available: boolean;
  /** Whether the adapter is a real GPU (not a fallback/software one). */
  hardware: boolean;
  /** Adapter description, for logs. */
  description: string;
}

const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|softpipe|swiftshader|software|basic render/i;

/**
 * Probe WebGPU once.
 *
 * @returns what adapter exists and whether it is hardware
 *
 * @example Log the adapter
 * ```ts
 * import { ok } from "node:assert";
 * import { probeGpu } from "./choose_execution_provider.ts";
 * const probe = await probeGpu();
 * // A software adapter (Mesa llvmpipe, SwiftShader) is available but not hardware.
 * ok(probe.available || !probe.hardware);
 * console.log(probe.hardware ? "GPU" : "no hardware GPU", probe.description);
 * ```
 */
export async function probeGpu(): Promise<GpuProbe> {
  const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
  if (!gpu) return { available: false, hardware: false, description: "no navigator.gpu" };
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await gpu.requestAdapter();
  } catch {
    adapter = null;
  }
  if (!adapter) return { available: false, hardware: false, description: "no adapter" };
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const description = [info.vendor, info.architecture, info.device, info.description]
    .filter((s) => s).join(" ");
  const fallback = info.isFallbackAdapter === true ||
    (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
  return {
    available: true,
    hardware: !fallback && !SOFTWARE_ADAPTER.test(description),
    description,
  };
}

/**
 * Resolve the execution provider: an explicit choice wins (after checking
 * that WebGPU exists if it asks for it); otherwise `webgpu` on a hardware GPU,
 * else `wasm`. `native` is never chosen by default: it is an opt-in for
 * self-hosted servers.
 *
 * @param requested the caller's choice, if any
 * @returns the provider to use
 * @throws {PrefixEdgeError} `GPU_UNAVAILABLE` when `webgpu` is requested but
 *   there is no adapter; `INVALID_INPUT` for an unknown name
 *
 * @example Default choice
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { chooseExecutionProvider, probeGpu } from "./choose_execution_provider.ts";
 * const ep = await chooseExecutionProvider(); // "wasm" on a machine without a hardware GPU
 * assertEquals(ep, (await probeGpu()).hardware ? "webgpu" : "wasm");
 * assertEquals(await chooseExecutionProvider("native"), "native"); // an explicit choice wins
 * ```
 */
export async function chooseExecutionProvider(
  requested?: ExecutionProvider,
): Promise<ExecutionProvider> {
  if (requested !== undefined && !["wasm", "webgpu", "native"].includes(requested)) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      `Cannot choose execution provider "${requested}": use wasm, webgpu or native`,
    );
  }
  if (requested === "wasm" || requested === "native") return requested;
  const probe = await probeGpu();
  if (requested === "webgpu") {
    if (!probe.available) {
      throw new PrefixEdgeError(
        "GPU_UNAVAILABLE",
        `Cannot use the webgpu execution provider: ${probe.description}`,
      );
    }
    return "webgpu";
  }
  return probe.hardware ? "webgpu" : "wasm";
}
