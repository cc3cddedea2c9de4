/**
 * One place that owns the device's resources for a piece of work: compiled
 * pipelines (WGSL read from `kernels/`, the source of truth), storage buffers,
 * the uniform arena, bind groups, optional per-pass timing, and readback.
 *
 * Kernel modules in this folder record dispatches into the caller's command
 * encoder; the caller submits once and reads back once per step.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import { acquireDevice, adapterFacts } from "./device.ts";
import {
  chooseKernelSet,
  kernelEnv,
  kernelFile,
  type KernelSet,
  type KernelSetName,
} from "./kernel_set.ts";

/** How a binding is declared in WGSL: uniform, `storage, read` or `storage, read_write`. */
export type BindingKind = "uniform" | "read" | "rw";

/** A buffer or a range of one, for a bind group entry. */
export type BufferRange = GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };

const UNIFORM_SLOT = 256; // minUniformBufferOffsetAlignment is at most 256
const UNIFORM_SLOTS = 4096;
const MAX_TIMED_PASSES = 2048;

const kernelText = new Map<string, Promise<string>>();
let kernelBase: URL | undefined;

/**
 * Where {@link loadKernel} reads the WGSL from: a folder URL holding `<name>.wgsl` (a page that
 * imports the browser build sets it to the `kernels/` beside the bundle), or `undefined` for the
 * repository's `kernels/` (the default). Clears the kernels read so far.
 *
 * @param base the folder's URL (a trailing slash is added when missing), or undefined
 *
 * @example Point at a folder of kernels
 * ```ts
 * import { ok } from "node:assert";
 * import { loadKernel, setKernelBaseUrl } from "./gpu_context.ts";
 * setKernelBaseUrl(new URL("../../kernels/", import.meta.url));
 * ok((await loadKernel("gelu_forward")).includes("@compute"));
 * setKernelBaseUrl(undefined); // back to the default
 * ```
 */
export function setKernelBaseUrl(base: URL | string | undefined): void {
  const href = base === undefined ? undefined : String(base);
  kernelBase = href === undefined ? undefined : new URL(href.endsWith("/") ? href : `${href}/`);
  kernelText.clear();
}

/**
 * Read a kernel's WGSL from `kernels/<name>.wgsl`, or from the folder set by
 * {@link setKernelBaseUrl} (cached per process).
 *
 * @param name base name, e.g. `matmul_xw`
 * @returns the WGSL source
 *
 * @example Read a kernel
 * ```ts
 * import { ok } from "node:assert";
 * import { loadKernel } from "./gpu_context.ts";
 * const wgsl = await loadKernel("gelu_forward");
 * ok(wgsl.includes("@compute"));
 * ```
 */
export function loadKernel(name: string): Promise<string> {
  let text = kernelText.get(name);
  if (!text) {
    const url = kernelBase
      ? new URL(`${name}.wgsl`, kernelBase)
      : new URL(`../../kernels/${name}.wgsl`, import.meta.url);
    text = url.protocol === "file:" ? Deno.readTextFile(url) : fetch(url).then((r) => {
      if (!r.ok) throw new Error(`Cannot read kernel ${url.href}: HTTP ${r.status}`);
      return r.text();
    });
    kernelText.set(name, text);
  }
  return text;
}

/**
 * The WGSL a device compiles for a kernel file: a `_subgroups` variant gets `enable subgroups;`
 * in front except under Deno. The files carry no directive because Deno's WGSL compiler (naga)
 * rejects it ("not yet supported") and accepts the subgroup builtins without it, while Tint,
 * the compiler of Chromium's WebGPU, refuses the builtins without it ("cannot call built-in
 * function 'subgroupAdd' without extension 'subgroups'").
 *
 * @param kernel the file's base name, e.g. `layernorm_forward_subgroups`
 * @param code its WGSL
 * @returns the WGSL to compile
 *
 * @example
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { withEnableDirectives } from "./gpu_context.ts";
 * assertEquals(withEnableDirectives("gelu_forward", "fn f() {}"), "fn f() {}");
 * // Deno's compiler wants the file as it is; a browser's gets the directive.
 * assertEquals(withEnableDirectives("rmsnorm_forward_subgroups", "fn f() {}"), "fn f() {}");
 * ```
 */
export function withEnableDirectives(kernel: string, code: string): string {
  const deno = (globalThis as { Deno?: { version?: { deno?: string } } }).Deno?.version?.deno;
  if (!kernel.endsWith("_subgroups") || deno !== undefined) return code;
  return /^\s*enable\s+subgroups\s*;/m.test(code) ? code : `enable subgroups;\n${code}`;
}

/** Time spent per pass label, from timestamp queries. */
export interface PassTimes {
  /** Milliseconds by label, summed over the passes that carried it. */
  byLabel: Map<string, number>;
  /** Sum over all timed passes, in milliseconds. */
  totalMs: number;
}

/**
 * The GPU resources of one engine (a trainer, a benchmark, a test).
 *
 * @example Allocate, write, read back
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { GpuContext } from "./gpu_context.ts";
 * const ctx = await GpuContext.create();
 * const buf = ctx.buffer(16, "x");
 * ctx.write(buf, new Float32Array([1, 2, 3, 4]));
 * assertEquals(await ctx.read(buf), new Float32Array([1, 2, 3, 4]));
 * ctx.destroy();
 * ```
 */
export class GpuContext {
  /** The device. */
  readonly device: GPUDevice;
  /** The kernels this context's modules run (chosen from the adapter, or forced). */
  readonly kernelSet: KernelSet;
  #pipelines = new Map<string, Promise<GPUComputePipeline>>();
  #buffers = new Set<GPUBuffer>();
  #uniformBuf: GPUBuffer;
  #uniformCpu = new Uint8Array(UNIFORM_SLOT * UNIFORM_SLOTS);
  #uniformUsed = 0;
  #querySet: GPUQuerySet | null = null;
  #queryLabels: string[] = [];
  #queryResolve: GPUBuffer | null = null;
  #times: PassTimes | null = null;

  private constructor(device: GPUDevice, kernelSet: KernelSet) {
    this.device = device;
    this.kernelSet = kernelSet;
    this.#uniformBuf = device.createBuffer({
      label: "uniform arena",
      size: UNIFORM_SLOT * UNIFORM_SLOTS,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
  }

  /**
   * A context on the process-wide device. Its kernel set is `opts.kernels` when given, else
   * `PREFIX_EDGE_KERNELS` when set, else the adapter's (see {@link chooseKernelSet}).
   *
   * @param opts `kernels`: force a kernel set
   * @returns a context on the shared device
   * @throws {PrefixEdgeError} `GPU_UNAVAILABLE` without a WebGPU adapter; `INVALID_INPUT` for
   * an unknown kernel set name
   */
  static async create(opts: { kernels?: KernelSetName } = {}): Promise<GpuContext> {
    const device = await acquireDevice();
    const env = kernelEnv();
    const set = chooseKernelSet(
      await adapterFacts(),
      opts.kernels ?? env.kernels,
      env.f16,
      env.subgroups,
    );
    if (opts.kernels) set.reason = "chosen by the caller";
    else if (env.kernelsFrom === "setKernelDefaults") set.reason = "forced by setKernelDefaults";
    return new GpuContext(device, set);
  }

  /** The largest storage binding the device accepts, in bytes. */
  get maxBinding(): number {
    return this.device.limits.maxStorageBufferBindingSize;
  }

  /**
   * A compute pipeline for `kernels/<kernel>.wgsl`'s `entry`, with an explicit
   * layout (binding i of group 0 has kind `layout[i]`). Cached. Where the kernel set has
   * subgroups on, a kernel with a subgroup variant loads `kernels/<kernel>_subgroups.wgsl`
   * instead (same entry points and bindings; see {@link kernelFile}).
   */
  pipeline(name: string, entry: string, layout: BindingKind[]): Promise<GPUComputePipeline> {
    const kernel = kernelFile(this.kernelSet, name);
    const key = `${kernel}:${entry}:${layout.join(",")}`;
    let p = this.#pipelines.get(key);
    if (!p) {
      p = this.#compile(kernel, entry, layout);
      this.#pipelines.set(key, p);
    }
    return p;
  }

  async #compile(kernel: string, entry: string, layout: BindingKind[]) {
    const code = withEnableDirectives(kernel, await loadKernel(kernel));
    const module = this.device.createShaderModule({ label: kernel, code });
    const bgl = this.device.createBindGroupLayout({
      label: `${kernel}:${entry}`,
      entries: layout.map((kind, binding) => ({
        binding,
        visibility: GPUShaderStage.COMPUTE,
        buffer: {
          type: kind === "uniform" ? "uniform" : kind === "read" ? "read-only-storage" : "storage",
        },
      })),
    });
    // An invalid shader rejects createComputePipelineAsync (a GPUPipelineError that says only
    // "invalid"); other validation errors surface in the scope. Either way, pop the scope and
    // report the compiler's own messages.
    this.device.pushErrorScope("validation");
    let pipeline: GPUComputePipeline | null = null;
    let failure: unknown = null;
    try {
      pipeline = await this.device.createComputePipelineAsync({
        label: `${kernel}:${entry}`,
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [bgl] }),
        compute: { module, entryPoint: entry },
      });
    } catch (e) {
      failure = e;
    }
    const err = await this.device.popErrorScope();
    if (!pipeline || err) {
      const info = await module.getCompilationInfo();
      const messages = info.messages.filter((m) => m.type === "error").map((m) => m.message);
      const why = messages.length ? messages.join("\n") : err?.message ?? String(failure);
      throw new PrefixEdgeError(
        "GPU_UNAVAILABLE",
        `Cannot compile kernel ${kernel}.wgsl (${entry}): ${why}`,
        { cause: failure ?? err },
      );
    }
    return pipeline;
  }

  /**
   * A storage buffer (also copy source and destination), zero-filled, freed by {@link destroy}.
   *
   * @param bytes size in bytes (rounded up to 4; at least 4)
   * @param label debug label
   */
  buffer(bytes: number, label: string): GPUBuffer {
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    if (size > this.device.limits.maxBufferSize) {
      throw new PrefixEdgeError(
        "GPU_UNAVAILABLE",
        `Cannot allocate ${label}: ${size} bytes exceed the device's maxBufferSize ${this.device.limits.maxBufferSize}`,
      );
    }
    const buf = this.device.createBuffer({
      label,
      size,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    this.#buffers.add(buf);
    return buf;
  }

  /** Write typed data into a buffer (queued before the next submit). */
  write(buffer: GPUBuffer, data: Float32Array | Uint32Array | Int32Array, offsetBytes = 0): void {
    this.device.queue.writeBuffer(
      buffer,
      offsetBytes,
      data.buffer as ArrayBuffer,
      data.byteOffset,
      data.byteLength,
    );
  }

  /**
   * Reserve a uniform slot holding `words` (u32 or f32, given as numbers with a kind per word
   * via the typed view the caller filled). Written to the GPU at {@link submit}.
   *
   * @param words the struct's 32-bit words, at most 64
   * @returns a binding range for the slot
   */
  uniform(words: ArrayBuffer): { buffer: GPUBuffer; offset: number; size: number } {
    if (this.#uniformUsed >= UNIFORM_SLOTS * UNIFORM_SLOT) {
      throw new PrefixEdgeError(
        "INVALID_INPUT",
        `Cannot record more than ${UNIFORM_SLOTS} dispatches in one submission: split the work`,
      );
    }
    const offset = this.#uniformUsed;
    this.#uniformCpu.set(new Uint8Array(words), offset);
    this.#uniformUsed += UNIFORM_SLOT;
    return { buffer: this.#uniformBuf, offset, size: Math.max(16, words.byteLength) };
  }

  /** A bind group for `pipeline` with entries bound at 0, 1, 2, ... */
  bindGroup(pipeline: GPUComputePipeline, entries: BufferRange[]): GPUBindGroup {
    // An oversized binding is a validation error that WebGPU reports nowhere we look: the
    // dispatch then silently does nothing, and training reads garbage. Refuse it by name.
    const max = this.maxBinding;
    for (const e of entries) {
      const buffer = e instanceof GPUBuffer ? e : e.buffer;
      const size = e instanceof GPUBuffer ? e.size : e.size ?? buffer.size - (e.offset ?? 0);
      if (size > max) {
        throw new PrefixEdgeError(
          "GPU_UNAVAILABLE",
          `Cannot bind ${
            buffer.label || "a buffer"
          } (${size} bytes): the adapter binds at most ${max} bytes (maxStorageBufferBindingSize); use a smaller model, or train on --backend native or wasm`,
        );
      }
    }
    return this.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: entries.map((e, binding) => ({
        binding,
        resource: e instanceof GPUBuffer ? { buffer: e } : e,
      })),
    });
  }

  /**
   * Record one compute pass with one or more dispatches of the same pipeline.
   *
   * @param encoder the caller's encoder
   * @param label name for timing
   * @param pipeline the pipeline
   * @param bindGroup its bind group
   * @param grids workgroup counts, one dispatch each
   */
  dispatch(
    encoder: GPUCommandEncoder,
    label: string,
    pipeline: GPUComputePipeline,
    bindGroup: GPUBindGroup,
    ...grids: [number, number?, number?][]
  ): void {
    const desc: GPUComputePassDescriptor = { label };
    if (this.#querySet && this.#queryLabels.length < MAX_TIMED_PASSES) {
      const i = this.#queryLabels.length;
      this.#queryLabels.push(label);
      desc.timestampWrites = {
        querySet: this.#querySet,
        beginningOfPassWriteIndex: 2 * i,
        endOfPassWriteIndex: 2 * i + 1,
      };
    }
    const pass = encoder.beginComputePass(desc);
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    const maxDim = this.device.limits.maxComputeWorkgroupsPerDimension;
    for (const [x, y = 1, z = 1] of grids) {
      if (x > maxDim || y > maxDim || z > maxDim) {
        throw new PrefixEdgeError(
          "INVALID_INPUT",
          `Cannot dispatch ${label}: grid ${x}x${y}x${z} exceeds ${maxDim} workgroups per dimension`,
        );
      }
      if (x > 0 && y > 0 && z > 0) pass.dispatchWorkgroups(x, y, z);
    }
    pass.end();
  }

  /**
   * Time every pass recorded from now on (needs the `timestamp-query` feature).
   * @returns false when the device cannot time passes
   */
  startTiming(): boolean {
    if (!this.device.features.has("timestamp-query")) return false;
    this.#querySet ??= this.device.createQuerySet({
      type: "timestamp",
      count: 2 * MAX_TIMED_PASSES,
    });
    this.#queryResolve ??= this.device.createBuffer({
      size: 16 * MAX_TIMED_PASSES,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    this.#queryLabels = [];
    this.#times = null;
    return true;
  }

  /** Stop timing and return the per-label times of the passes submitted since {@link startTiming}. */
  async stopTiming(): Promise<PassTimes> {
    const labels = this.#queryLabels;
    const times: PassTimes = this.#times ?? { byLabel: new Map(), totalMs: 0 };
    if (this.#querySet && labels.length) await this.#collectTimes(labels, times);
    this.#querySet?.destroy();
    this.#queryResolve?.destroy();
    this.#querySet = null;
    this.#queryResolve = null;
    this.#queryLabels = [];
    this.#times = null;
    return times;
  }

  async #collectTimes(labels: string[], into: PassTimes) {
    const n = labels.length;
    const enc = this.device.createCommandEncoder();
    enc.resolveQuerySet(this.#querySet!, 0, 2 * n, this.#queryResolve!, 0);
    const staging = this.device.createBuffer({
      size: 16 * n,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    enc.copyBufferToBuffer(this.#queryResolve!, 0, staging, 0, 16 * n);
    this.device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const ts = new BigInt64Array(staging.getMappedRange().slice(0));
    staging.unmap();
    staging.destroy();
    for (let i = 0; i < n; i++) {
      const ms = Number(ts[2 * i + 1] - ts[2 * i]) / 1e6;
      if (!(ms >= 0)) continue;
      into.byLabel.set(labels[i], (into.byLabel.get(labels[i]) ?? 0) + ms);
      into.totalMs += ms;
    }
  }

  /** Upload the uniform arena and submit the encoder's commands. */
  async submit(encoder: GPUCommandEncoder): Promise<void> {
    if (this.#uniformUsed > 0) {
      this.device.queue.writeBuffer(this.#uniformBuf, 0, this.#uniformCpu, 0, this.#uniformUsed);
      this.#uniformUsed = 0;
    }
    this.device.queue.submit([encoder.finish()]);
    // Timestamp slots are few: fold the timed passes into the totals after each submission.
    if (this.#querySet && this.#queryLabels.length) {
      this.#times ??= { byLabel: new Map(), totalMs: 0 };
      await this.#collectTimes(this.#queryLabels, this.#times);
      this.#queryLabels = [];
    }
  }

  /**
   * Copy a range of a buffer to the CPU (waits for queued work).
   *
   * @param buffer source
   * @param offsetBytes start
   * @param bytes length (default: to the end)
   * @returns the bytes as f32
   */
  async read(buffer: GPUBuffer, offsetBytes = 0, bytes?: number): Promise<Float32Array> {
    const size = bytes ?? buffer.size - offsetBytes;
    const staging = this.device.createBuffer({
      size: Math.max(4, size),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const enc = this.device.createCommandEncoder();
    if (size > 0) enc.copyBufferToBuffer(buffer, offsetBytes, staging, 0, size);
    await this.submit(enc);
    await staging.mapAsync(GPUMapMode.READ);
    const out = new Float32Array(staging.getMappedRange().slice(0, size));
    staging.unmap();
    staging.destroy();
    return out;
  }

  /**
   * Record a copy of a buffer range into a fresh staging buffer, to be read after the
   * caller submits `enc` (so a step reads back once, in the same submission).
   *
   * @param enc the caller's encoder
   * @param buffer source
   * @param offsetBytes start
   * @param bytes length
   * @returns a function that maps the staging buffer (call it after {@link submit})
   */
  stage(
    enc: GPUCommandEncoder,
    buffer: GPUBuffer,
    offsetBytes: number,
    bytes: number,
  ): () => Promise<Float32Array> {
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    const staging = this.device.createBuffer({
      size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    enc.copyBufferToBuffer(buffer, offsetBytes, staging, 0, size);
    return async () => {
      await staging.mapAsync(GPUMapMode.READ);
      const out = new Float32Array(staging.getMappedRange().slice(0, bytes));
      staging.unmap();
      staging.destroy();
      return out;
    };
  }

  /** Free every buffer this context allocated. */
  destroy(): void {
    for (const b of this.#buffers) b.destroy();
    this.#buffers.clear();
    this.#uniformBuf.destroy();
    this.#querySet?.destroy();
    this.#queryResolve?.destroy();
  }
}
