/**
 * The only module that imports ONNX Runtime. It hands out a small
 * {@link OrtBackend} (tensor constructor + session factory) for one execution
 * provider, so the rest of src/infer never touches the runtime's globals.
 *
 * - `wasm` and `webgpu`: `npm:onnxruntime-web/webgpu` (the bare entry resolves
 *   to the Node build, which has no WebGPU).
 * - `native`: `npm:onnxruntime-node`, imported dynamically so that the SDK
 *   loads where native addons cannot (Deno Deploy).
 *
 * @module
 */
import type * as Ort from "onnxruntime-common";
import { PrefixEdgeError } from "../errors/mod.ts";

/** Where the graph runs. */
export type ExecutionProvider = "wasm" | "webgpu" | "native";

/** An ORT tensor (the onnxruntime-common interface all three runtimes share). */
export type OrtTensor = Ort.Tensor;
/** An ORT inference session. */
export type OrtSession = Ort.InferenceSession;
/** Session creation options. */
export type OrtSessionOptions = Ort.InferenceSession.SessionOptions;

/** What src/infer needs from a runtime. */
export interface OrtBackend {
  /** The provider this backend runs. */
  readonly ep: ExecutionProvider;
  /** Build a CPU tensor (each runtime has its own Tensor class; never mix them). */
  tensor(
    type: "float32" | "int64" | "int32" | "bool",
    data: Float32Array | BigInt64Array | Int32Array | Uint8Array,
    dims: readonly number[],
  ): OrtTensor;
  /**
   * Create a session from model bytes (onnxruntime-web wants bytes), or from a
   * path (native only: ORT then finds external data beside the file).
   */
  createSession(model: Uint8Array | string, options: OrtSessionOptions): Promise<OrtSession>;
}

/** Options that only apply to a backend's global setup. */
export interface BackendSetup {
  /**
   * WASM threads (default {@link defaultWasmThreads}: 1 in Deno, half the cores (up to 4) in a
   * cross-origin isolated page). ORT-web's threads need a shim in Deno (see docs/inference.md);
   * ORT fixes this number at the first WASM session.
   */
  wasmThreads?: number;
  /** Intra-op threads of the native backend (default: ORT's choice). */
  nativeThreads?: number;
}

type OrtModule = typeof Ort;

let webModule: Promise<OrtModule> | undefined;
let wasmPathsOverride: string | undefined;

/**
 * Where onnxruntime-web fetches its `.wasm` (and threaded `.mjs`) files: a folder URL, set
 * before the first WASM or WebGPU session (ORT reads it once). A page that imports the browser
 * build gets the folder beside the bundle; in Deno the package's own files are used (the
 * default, `undefined`). With it set, WASM threads are ORT's own (a page starts its workers
 * itself; it needs cross-origin isolation for more than one thread).
 *
 * @param prefix the folder's URL (ending in `/`), or undefined for the default
 *
 * @example Serve ORT's files from a folder of your own
 * ```ts
 * import { throws } from "node:assert";
 * import { setOrtWasmPaths } from "./ort_backend.ts";
 * setOrtWasmPaths("https://example.com/assets/ort/");
 * setOrtWasmPaths(undefined); // back to the default
 * throws(() => setOrtWasmPaths("not a url"), { code: "INVALID_INPUT" });
 * ```
 */
export function setOrtWasmPaths(prefix: string | URL | undefined): void {
  if (prefix !== undefined && !URL.canParse(String(prefix))) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      `Cannot set onnxruntime-web's file location: "${prefix}" is not a URL`,
    );
  }
  wasmPathsOverride = prefix === undefined ? undefined : String(prefix);
}
let nativeModule: Promise<OrtModule> | undefined;
let wasmInitialized = false;

/**
 * Load the runtime for one execution provider.
 *
 * @param ep the provider
 * @param setup global runtime setup
 * @returns the backend
 * @throws {PrefixEdgeError} `BACKEND_UNAVAILABLE` when the runtime cannot load
 */
export async function loadOrtBackend(
  ep: ExecutionProvider,
  setup: BackendSetup = {},
): Promise<OrtBackend> {
  const ort = ep === "native" ? await importNative() : await importWeb();
  if (ep === "wasm") configureWasm(ort, setup.wasmThreads ?? defaultWasmThreads());
  if (ep === "webgpu" && !wasmInitialized) configureWasm(ort, defaultWasmThreads());
  const executionProviders = ep === "native" ? ["cpu"] : [ep];
  return {
    ep,
    tensor: (type, data, dims) => new ort.Tensor(type, data as Float32Array, dims),
    async createSession(model, options) {
      const opts: OrtSessionOptions = { ...options, executionProviders };
      if (ep === "native" && setup.nativeThreads) opts.intraOpNumThreads = setup.nativeThreads;
      if (ep === "wasm" && pendingThreadShim) return await withThreadShim(() => create(opts));
      return await create(opts);

      async function create(o: OrtSessionOptions) {
        try {
          return await (typeof model === "string"
            ? ort.InferenceSession.create(model, o)
            : ort.InferenceSession.create(model, o));
        } catch (e) {
          throw new PrefixEdgeError(
            "BACKEND_UNAVAILABLE",
            `Cannot create an ONNX Runtime session on ${ep}: ${(e as Error).message}`,
            { cause: e },
          );
        }
      }
    },
  };
}

/**
 * The WASM thread count used when none is given: in a page that is cross-origin isolated (so
 * SharedArrayBuffer, and ORT's worker threads, are available) half the cores, rounded up, at
 * most 4 (onnxruntime-web's own rule); elsewhere 1. Half, because the page's own threads
 * (V8's compiler and collector, the compositor) need the rest: on a 2-core machine a second ORT
 * thread made the tab's main-job step 0.179 s against 0.107 s with one, and its decoding 319
 * against 549 tokens/s (bench/RESULTS.md). Deno keeps 1: its threads need a shim, and a 2-thread
 * stories260K training step hung there in 2 runs of 3. ORT fixes the count at a page's first
 * WASM session, so an inference engine and a trainer in one page share it.
 *
 * @returns the thread count
 *
 * @example In Deno, one thread
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { defaultWasmThreads } from "./ort_backend.ts";
 * assertEquals(defaultWasmThreads(), 1);
 * ```
 */
export function defaultWasmThreads(): number {
  const g = globalThis as { crossOriginIsolated?: boolean; Deno?: unknown };
  if (g.Deno !== undefined || g.crossOriginIsolated !== true) return 1;
  return Math.max(1, Math.min(4, Math.ceil((globalThis.navigator?.hardwareConcurrency ?? 1) / 2)));
}

function importWeb(): Promise<OrtModule> {
  webModule ??= import("onnxruntime-web").then((m) => m as unknown as OrtModule).catch((e) => {
    webModule = undefined;
    throw new PrefixEdgeError(
      "BACKEND_UNAVAILABLE",
      `Cannot load onnxruntime-web: ${(e as Error).message}`,
      { cause: e },
    );
  });
  return webModule;
}

function importNative(): Promise<OrtModule> {
  // A variable specifier keeps bundlers and Deno Deploy from resolving the
  // native addon eagerly; the import map still maps the bare name.
  const name = "onnxruntime-node";
  nativeModule ??= import(name).then((m) => (m.default ?? m) as OrtModule).catch((e) => {
    nativeModule = undefined;
    throw new PrefixEdgeError(
      "BACKEND_UNAVAILABLE",
      `Cannot load the native backend (npm:onnxruntime-node): ${
        (e as Error).message
      }. Use executionProvider "wasm" instead (Deno Deploy cannot load native addons)`,
      { cause: e },
    );
  });
  return nativeModule;
}

// The file ORT 1.30's webgpu bundle loads for its threaded WASM runtime.
const THREADED_MJS = "ort-wasm-simd-threaded.asyncify.mjs";
const THREADED_WASM = "ort-wasm-simd-threaded.asyncify.wasm";
let pendingThreadShim: string | undefined;

function configureWasm(ort: OrtModule, threads: number): void {
  if (!Number.isInteger(threads) || threads < 1) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      `Cannot configure WASM: wasmThreads must be a positive integer, got ${threads}`,
    );
  }
  if (wasmInitialized) return; // ORT reads these once, at its first WASM session.
  wasmInitialized = true;
  ort.env.wasm.numThreads = threads;
  if (wasmPathsOverride !== undefined) {
    ort.env.wasm.wasmPaths = wasmPathsOverride;
    return;
  }
  if (threads === 1) return;
  // ORT starts its pthread workers from a script it fetches and re-imports
  // through a `blob:` URL, which Deno's loader for npm code refuses. Pointing
  // ORT at the package's own file and answering its createObjectURL with that
  // file URL lets Deno import (and spawn workers from) the real file.
  const dist = new URL("./", import.meta.resolve("onnxruntime-web"));
  if (dist.protocol !== "file:") {
    throw new PrefixEdgeError(
      "BACKEND_UNAVAILABLE",
      `Cannot run WASM with ${threads} threads: onnxruntime-web is not on the local file system (${dist.href}); use wasmThreads 1`,
    );
  }
  const mjs = new URL(THREADED_MJS, dist).href;
  ort.env.wasm.wasmPaths = { mjs, wasm: new URL(THREADED_WASM, dist).href };
  pendingThreadShim = mjs;
}

async function withThreadShim<T>(fn: () => Promise<T>): Promise<T> {
  const url = pendingThreadShim!;
  pendingThreadShim = undefined;
  const original = URL.createObjectURL;
  URL.createObjectURL = () => url;
  try {
    return await fn();
  } finally {
    URL.createObjectURL = original;
  }
}
