/**
 * Acquire the WebGPU device once per process, with the adapter's own limits (the
 * defaults are too small for GPT-2-sized buffers: a 128 MiB binding, 8 storage
 * buffers per stage).
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";

/** The limits this SDK raises to the adapter's values when the adapter offers more. */
const RAISED_LIMITS = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxStorageBuffersPerShaderStage",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupsPerDimension",
] as const;

let shared: Promise<GPUDevice> | null = null;

/**
 * The process-wide WebGPU device (requested on first use, then shared).
 * It asks for the adapter's limits and the `timestamp-query` feature when offered.
 *
 * @returns the device
 * @throws {PrefixEdgeError} `GPU_UNAVAILABLE` when there is no WebGPU adapter
 *
 * @example Get the device
 * ```ts ignore
 * const device = await acquireDevice();
 * console.log(device.limits.maxStorageBufferBindingSize);
 * ```
 */
export function acquireDevice(): Promise<GPUDevice> {
  if (!shared) {
    shared = requestDevice().catch((e) => {
      shared = null;
      throw e;
    });
  }
  return shared;
}

async function requestDevice(): Promise<GPUDevice> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) {
    throw new PrefixEdgeError(
      "GPU_UNAVAILABLE",
      "Cannot train on WebGPU: this runtime has no navigator.gpu",
    );
  }
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) {
    throw new PrefixEdgeError(
      "GPU_UNAVAILABLE",
      "Cannot train on WebGPU: no adapter was found (install Mesa's Vulkan driver for a software GPU)",
    );
  }
  const requiredLimits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) requiredLimits[name] = adapter.limits[name];
  const requiredFeatures: GPUFeatureName[] = [];
  if (adapter.features.has("timestamp-query")) requiredFeatures.push("timestamp-query");
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  device.lost.then((info) => {
    if (info.reason !== "destroyed") shared = null;
  });
  return device;
}
