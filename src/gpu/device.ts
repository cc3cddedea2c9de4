/**
 * Acquire the WebGPU device once per process, with the adapter's own limits (the
 * defaults are too small for GPT-2-sized buffers: a 128 MiB binding, 8 storage
 * buffers per stage).
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import type { AdapterFacts } from "./kernel_set.ts";

/** The limits this SDK raises to the adapter's values when the adapter offers more. */
const RAISED_LIMITS = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxStorageBuffersPerShaderStage",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupsPerDimension",
] as const;

/** Optional features requested when the adapter offers them. */
const WANTED_FEATURES: GPUFeatureName[] = [
  "timestamp-query",
  "shader-f16",
  "subgroups" as GPUFeatureName,
];

let shared: Promise<{ device: GPUDevice; facts: AdapterFacts }> | null = null;

/**
 * The process-wide WebGPU device (requested on first use, then shared).
 * It asks for the adapter's limits and the `timestamp-query`, `shader-f16` and `subgroups`
 * features when offered.
 *
 * @returns the device
 * @throws {PrefixEdgeError} `GPU_UNAVAILABLE` when there is no WebGPU adapter
 *
 * @example Get the device
 * ```ts
 * import { ok, strictEqual } from "node:assert";
 * import { acquireDevice } from "./device.ts";
 * const device = await acquireDevice();
 * ok(device.limits.maxStorageBufferBindingSize >= 128 * 2 ** 20); // WebGPU's default, or more
 * strictEqual(await acquireDevice(), device); // shared by the whole process
 * ```
 */
export async function acquireDevice(): Promise<GPUDevice> {
  return (await acquire()).device;
}

/**
 * What the process-wide device's adapter reports (for choosing a kernel set, and for logs).
 *
 * @returns the adapter's facts
 * @throws {PrefixEdgeError} `GPU_UNAVAILABLE` when there is no WebGPU adapter
 *
 * @example Print the adapter
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { acquireDevice, adapterFacts } from "./device.ts";
 * const facts = await adapterFacts();
 * assertEquals(facts.features, [...(await acquireDevice()).features]); // what the device got
 * console.log(facts.vendor, facts.description, facts.features);
 * ```
 */
export async function adapterFacts(): Promise<AdapterFacts> {
  return (await acquire()).facts;
}

function acquire(): Promise<{ device: GPUDevice; facts: AdapterFacts }> {
  if (!shared) {
    shared = requestDevice().catch((e) => {
      shared = null;
      throw e;
    });
  }
  return shared;
}

async function requestDevice(): Promise<{ device: GPUDevice; facts: AdapterFacts }> {
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
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  device.lost.then((info) => {
    if (info.reason !== "destroyed") shared = null;
  });
  const info = adapter.info;
  const facts: AdapterFacts = {
    isFallbackAdapter: Boolean((adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter),
    vendor: info?.vendor ?? "",
    architecture: info?.architecture ?? "",
    device: info?.device ?? "",
    description: info?.description ?? "",
    features: [...device.features],
    maxComputeInvocationsPerWorkgroup: device.limits.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupStorageSize: device.limits.maxComputeWorkgroupStorageSize,
  };
  const sizes = info as { subgroupMinSize?: number; subgroupMaxSize?: number } | undefined;
  if (typeof sizes?.subgroupMinSize === "number") facts.subgroupMinSize = sizes.subgroupMinSize;
  if (typeof sizes?.subgroupMaxSize === "number") facts.subgroupMaxSize = sizes.subgroupMaxSize;
  return { device, facts };
}
