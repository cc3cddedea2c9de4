/**
 * Which kernels run: `software` (register-blocked kernels with 8 invocations and no workgroup
 * memory, fastest on CPU adapters such as Mesa llvmpipe) or `hardware` (tiled matmuls staged
 * through workgroup memory with 256 invocations and vec4 loads, and K/V-tiled attention, for
 * discrete and integrated GPUs). The set is chosen once per context from the adapter, or forced
 * by `PREFIX_EDGE_KERNELS=software|hardware`; kernel modules consult `ctx.kernelSet` to pick
 * their shader and dispatch grid, so the training graphs do not change. On the hardware set,
 * `PREFIX_EDGE_SUBGROUPS=1` swaps the workgroup reductions of {@link SUBGROUP_KERNELS} for their
 * generated `_subgroups` variants where the adapter offers `subgroups` ({@link kernelFile}).
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
  /** `GPUAdapterInfo.subgroupMinSize` (lanes), where the runtime reports it. */
  subgroupMinSize?: number;
  /** `GPUAdapterInfo.subgroupMaxSize` (lanes), where the runtime reports it. */
  subgroupMaxSize?: number;
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
  /**
   * The kernels of {@link SUBGROUP_KERNELS} reduce with subgroup operations (their generated
   * `kernels/<name>_subgroups.wgsl`): hardware set, the device has `subgroups`, and opt-in with
   * `PREFIX_EDGE_SUBGROUPS=1` (no GPU has checked them yet; see docs/kernels.md).
   */
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

/**
 * The kernels whose `reduce_sum` has a subgroup variant, `kernels/<name>_subgroups.wgsl`,
 * generated from `kernels/<name>.wgsl` by `deno task kernels`. The generator writes one file
 * per name here, and {@link kernelFile} loads them; add a name to both at once by adding it here.
 */
export const SUBGROUP_KERNELS: readonly string[] = [
  "layernorm_forward",
  "layernorm_backward",
  "rmsnorm_forward",
  "rmsnorm_backward",
  "prefix_backward",
  "adamw_update",
];

/**
 * The file under `kernels/` (without `.wgsl`) that a kernel set runs for a kernel: the
 * `_subgroups` variant when the set has subgroups on and the kernel has one, else the kernel.
 *
 * @param set the context's kernel set
 * @param kernel a kernel's base name, e.g. `layernorm_forward`
 * @returns the name to load
 *
 * @example Subgroup reductions on a hardware set
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { kernelFile } from "./kernel_set.ts";
 * const set = { name: "hardware", f16: false, subgroups: true, reason: "" } as const;
 * assertEquals(kernelFile(set, "layernorm_forward"), "layernorm_forward_subgroups");
 * assertEquals(kernelFile(set, "matmul_xw"), "matmul_xw");
 * ```
 */
export function kernelFile(set: KernelSet, kernel: string): string {
  return set.subgroups && set.name === "hardware" && SUBGROUP_KERNELS.includes(kernel)
    ? `${kernel}_subgroups`
    : kernel;
}

const SOFTWARE_NAMES = /llvmpipe|lavapipe|swiftshader|software|warp|\bcpu\b/i;

/**
 * Choose the kernel set for an adapter.
 *
 * @param facts what the adapter reports
 * @param force a set name to use regardless (the `PREFIX_EDGE_KERNELS` value), or undefined
 * @param f16 the `PREFIX_EDGE_F16` value ("1" asks for f16 matmuls where offered)
 * @param subgroups the `PREFIX_EDGE_SUBGROUPS` value ("1" asks for subgroup reductions where
 * the device has `subgroups`)
 * @returns the set and the reason
 * @throws {PrefixEdgeError} `INVALID_INPUT` for an unknown forced name; `GPU_UNAVAILABLE` when
 * `hardware` is forced on an adapter whose limits cannot run its workgroups
 *
 * @example A discrete GPU gets the hardware set
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { chooseKernelSet } from "./kernel_set.ts";
 * const set = chooseKernelSet({
 *   isFallbackAdapter: false, vendor: "nvidia", architecture: "", device: "", description: "",
 *   features: [], maxComputeInvocationsPerWorkgroup: 1024, maxComputeWorkgroupStorageSize: 49152,
 * });
 * assertEquals(set.name, "hardware");
 * ```
 */
export function chooseKernelSet(
  facts: AdapterFacts,
  force?: string,
  f16?: string,
  subgroups?: string,
): KernelSet {
  const fits = facts.maxComputeInvocationsPerWorkgroup >= HARDWARE_MATMUL_INVOCATIONS &&
    facts.maxComputeWorkgroupStorageSize >= HARDWARE_WORKGROUP_BYTES;
  const offersF16 = facts.features.includes("shader-f16");
  const offersSubgroups = facts.features.includes("subgroups");
  const make = (name: KernelSetName, reason: string): KernelSet => ({
    name,
    f16: name === "hardware" && offersF16 && f16 === "1",
    subgroups: name === "hardware" && offersSubgroups && subgroups === "1",
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

/** What {@link setKernelDefaults} takes: the page's stand-ins for the `PREFIX_EDGE_*` variables. */
export interface KernelDefaults {
  /** Force a kernel set (as `PREFIX_EDGE_KERNELS`); `undefined` lets the adapter choose. */
  kernels?: KernelSetName;
  /** f16 matmuls on the hardware set where offered (as `PREFIX_EDGE_F16=1`). */
  f16?: boolean;
  /** Subgroup reductions on the hardware set where offered (as `PREFIX_EDGE_SUBGROUPS=1`). */
  subgroups?: boolean;
}

let defaults: KernelDefaults = {};

/**
 * Set, for this process or page, what the `PREFIX_EDGE_KERNELS`, `PREFIX_EDGE_F16` and
 * `PREFIX_EDGE_SUBGROUPS` variables would say: a page has no environment. A field given here
 * wins over the variable; `setKernelDefaults({})` goes back to the environment alone. Contexts
 * created afterwards use it (a per-call `kernels` option still wins over both).
 *
 * @param d the defaults
 * @throws {PrefixEdgeError} `INVALID_INPUT` for an unknown kernel set name
 *
 * @example Subgroup reductions in a page
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { kernelEnv, setKernelDefaults } from "./kernel_set.ts";
 * setKernelDefaults({ kernels: "hardware", subgroups: true });
 * assertEquals(kernelEnv().subgroups, "1");
 * setKernelDefaults({});
 * ```
 */
export function setKernelDefaults(d: KernelDefaults): void {
  if (d.kernels !== undefined && !KERNEL_SET_NAMES.includes(d.kernels)) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      `Cannot set the kernel defaults: kernels is "${d.kernels}", expected ${
        KERNEL_SET_NAMES.join(" or ")
      }`,
    );
  }
  defaults = { ...d };
}

/**
 * `PREFIX_EDGE_KERNELS`, `PREFIX_EDGE_F16` and `PREFIX_EDGE_SUBGROUPS`, read without failing
 * where env access is denied or there is no `Deno` (a page), with {@link setKernelDefaults}'s
 * fields in their place where set.
 */
export function kernelEnv(): {
  kernels?: string;
  f16?: string;
  subgroups?: string;
  /** Where `kernels` came from, when it is set. */
  kernelsFrom?: "setKernelDefaults" | "PREFIX_EDGE_KERNELS";
} {
  let env: { kernels?: string; f16?: string; subgroups?: string };
  try {
    env = {
      kernels: Deno.env.get("PREFIX_EDGE_KERNELS"),
      f16: Deno.env.get("PREFIX_EDGE_F16"),
      subgroups: Deno.env.get("PREFIX_EDGE_SUBGROUPS"),
    };
  } catch {
    env = {};
  }
  const flag = (b: boolean | undefined, v: string | undefined) =>
    b === undefined ? v : b ? "1" : "0";
  const kernels = defaults.kernels ?? env.kernels;
  return {
    kernels,
    f16: flag(defaults.f16, env.f16),
    subgroups: flag(defaults.subgroups, env.subgroups),
    ...(kernels
      ? { kernelsFrom: defaults.kernels ? "setKernelDefaults" : "PREFIX_EDGE_KERNELS" as const }
      : {}),
  };
}
