/**
 * Which kernels run: `software` (register-blocked kernels with 8 invocations and no workgroup
 * memory, fastest on CPU adapters such as Mesa llvmpipe) or `hardware` (tiled matmuls staged
 * through workgroup memory with 256 invocations and vec4 loads, and K/V-tiled attention, for
 * discrete and integrated GPUs). The set is chosen once per context from the adapter, or forced
 * by `PREFIX_EDGE_KERNELS=software|hardware`; kernel modules consult `ctx.kernelSet` to pick
 * their shader and dispatch grid, so the training graphs do not change.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";

/** The two kernel sets. */
export type KernelSetName = "software" | "hardware";

/** The names a user may force, in order. */
export const KERNEL_SET_NAMES: readonly KernelSetName[] = ["software", "hardware"];

/** What the choice reads from the adapter (a plain object, so tests can describe any GPU). */
export interface AdapterFacts {
  /** `GPUAdapter.isFallbackAdapter` (a CPU implementation, by the runtime's own account). */
  isFallbackAdapter: boolean;
  /** `GPUAdapterInfo` fields (empty strings where the runtime hides them). */
  vendor: string;
  /** `GPUAdapterInfo.architecture`. */
  architecture: string;
  /** `GPUAdapterInfo.device`. */
  device: string;
  /** `GPUAdapterInfo.description`. */
  description: string;
  /** Optional features the device was created with (`shader-f16`, `subgroups`, ...). */
  features: readonly string[];
  /** `maxComputeInvocationsPerWorkgroup`. */
  maxComputeInvocationsPerWorkgroup: number;
  /** `maxComputeWorkgroupStorageSize` in bytes. */
  maxComputeWorkgroupStorageSize: number;
}

/** The kernel set a context runs, and why. */
export interface KernelSet {
  /** `software` or `hardware`. */
  name: KernelSetName;
  /**
   * The hardware matmuls stage their operands as f16 and multiply in f16 with f32 accumulation
   * (needs `shader-f16`; opt-in with `PREFIX_EDGE_F16=1`, see docs/kernels.md for the error).
   */
  f16: boolean;
  /** The adapter offers `subgroups` (reported; the reductions do not use it yet). */
  subgroups: boolean;
  /** One line on why this set was chosen. */
  reason: string;
}

/**
 * Tile of the hardware matmuls: a workgroup of (BN/TN) x (BM/TM) invocations owns a BM x BN
 * output tile and walks the reduction in steps of BK through workgroup memory; an invocation
 * owns TM rows x TN columns (TN a multiple of 4: vec4 accumulators). The generator of
 * `kernels/matmul_*_tiled*.wgsl` and the dispatch in `src/gpu/matmul_*.ts` both read it.
 */
export const HARDWARE_MATMUL_TILE = { BM: 64, BN: 64, BK: 16, TM: 4, TN: 4 } as const;

/** Invocations per workgroup of the hardware matmuls. */
export const HARDWARE_MATMUL_INVOCATIONS = (HARDWARE_MATMUL_TILE.BM / HARDWARE_MATMUL_TILE.TM) *
  (HARDWARE_MATMUL_TILE.BN / HARDWARE_MATMUL_TILE.TN);

/**
 * Workgroup memory the hardware set needs, in bytes: the tiled attention kernels stage two
 * [16, 128] f32 tiles plus three 16-word row vectors (the matmuls need 2 x 64 x 16 f32 = 8 KiB).
 */
export const HARDWARE_WORKGROUP_BYTES = 2 * 16 * 128 * 4 + 3 * 16 * 4;

const SOFTWARE_NAMES = /llvmpipe|lavapipe|swiftshader|software|warp|\bcpu\b/i;

/**
 * Choose the kernel set for an adapter.
 *
 * @param facts what the adapter reports
 * @param force a set name to use regardless (the `PREFIX_EDGE_KERNELS` value), or undefined
 * @param f16 the `PREFIX_EDGE_F16` value ("1" asks for f16 matmuls where offered)
 * @returns the set and the reason
 * @throws {PrefixEdgeError} `INVALID_INPUT` for an unknown forced name; `GPU_UNAVAILABLE` when
 * `hardware` is forced on an adapter whose limits cannot run its workgroups
 *
 * @example A discrete GPU gets the hardware set
 * ```ts
 * import { chooseKernelSet } from "./kernel_set.ts";
 * const set = chooseKernelSet({
 *   isFallbackAdapter: false, vendor: "nvidia", architecture: "", device: "", description: "",
 *   features: [], maxComputeInvocationsPerWorkgroup: 1024, maxComputeWorkgroupStorageSize: 49152,
 * });
 * console.log(set.name); // "hardware"
 * ```
 */
export function chooseKernelSet(facts: AdapterFacts, force?: string, f16?: string): KernelSet {
  const fits = facts.maxComputeInvocationsPerWorkgroup >= HARDWARE_MATMUL_INVOCATIONS &&
    facts.maxComputeWorkgroupStorageSize >= HARDWARE_WORKGROUP_BYTES;
  const offersF16 = facts.features.includes("shader-f16");
  const subgroups = facts.features.includes("subgroups");
  const make = (name: KernelSetName, reason: string): KernelSet => ({
    name,
    f16: name === "hardware" && offersF16 && f16 === "1",
    subgroups,
    reason,
  });
  if (force !== undefined && force !== "") {
    if (!KERNEL_SET_NAMES.includes(force as KernelSetName)) {
      throw new PrefixEdgeError(
        "INVALID_INPUT",
        `Cannot choose kernels: PREFIX_EDGE_KERNELS is "${force}", expected ${
          KERNEL_SET_NAMES.join(" or ")
        }`,
      );
    }
    if (force === "hardware" && !fits) {
      throw new PrefixEdgeError(
        "GPU_UNAVAILABLE",
        `Cannot use the hardware kernels: the adapter allows ${facts.maxComputeInvocationsPerWorkgroup} invocations and ${facts.maxComputeWorkgroupStorageSize} bytes of workgroup memory, they need ${HARDWARE_MATMUL_INVOCATIONS} and ${HARDWARE_WORKGROUP_BYTES}`,
      );
    }
    return make(force as KernelSetName, "forced by PREFIX_EDGE_KERNELS");
  }
  if (facts.isFallbackAdapter) return make("software", "a fallback (CPU) adapter");
  const named = [facts.vendor, facts.architecture, facts.device, facts.description]
    .filter((s) => s !== "").join(" ");
  if (SOFTWARE_NAMES.test(named)) return make("software", `a software adapter (${named.trim()})`);
  if (!fits) return make("software", "the adapter's workgroup limits are below the tiled kernels'");
  return make("hardware", `a hardware adapter (${named.trim() || "unnamed"})`);
}

/** `PREFIX_EDGE_KERNELS` and `PREFIX_EDGE_F16`, read without failing where env access is denied. */
export function kernelEnv(): { kernels?: string; f16?: string } {
  try {
    return {
      kernels: Deno.env.get("PREFIX_EDGE_KERNELS"),
      f16: Deno.env.get("PREFIX_EDGE_F16"),
    };
  } catch {
    return {};
  }
}
