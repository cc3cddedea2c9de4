/**
 * The task registry: bundles are read from a store on first use, verified
 * against the base model by an injected decoder, and kept decoded in an LRU
 * under a memory budget.
 *
 * Replacement is atomic from a request's point of view: a request holds the
 * {@link TaskEntry} it got, so an upload or an eviction while it runs never
 * changes the prefix under it; the next request sees the new bundle.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import { type ModelConfig, type Prefix, validatePrefix } from "../model/mod.ts";
import type { BundleStore } from "./bundle_store.ts";
import type { ServerMetrics } from "./server_metrics.ts";
import { BASE_TASK, validateTaskName } from "./task_name.ts";

/** What a decoder returns for a bundle. */
export interface DecodedBundle {
  /** The bundle's manifest (shown on `GET /v1/tasks`). */
  manifest: Record<string, unknown>;
  /** The folded prefix. */
  prefix: Prefix;
}

/**
 * Turns bundle bytes into a verified prefix, or throws a `PrefixEdgeError`
 * naming the problem. In the server this is
 * `PrefixBundle.fromBytes(bytes, { model })`.
 */
export type BundleDecoder = (bytes: Uint8Array, task: string) => Promise<DecodedBundle>;

/** A decoded task in the cache. */
export interface TaskEntry {
  /** Task name (the store's name, which wins over the manifest's). */
  readonly task: string;
  /** The bundle's manifest. */
  readonly manifest: Record<string, unknown>;
  /** The folded prefix. */
  readonly prefix: Prefix;
  /** Bytes the decoded prefix takes (`kv.byteLength`). */
  readonly bytes: number;
  /** When it was decoded (ms since the epoch). */
  readonly loadedAt: number;
}

/** One row of {@link TaskRegistry.list}. */
export interface TaskListing {
  /** Task name. */
  task: string;
  /** Whether the task is decoded in the cache now. */
  loaded: boolean;
  /** The manifest (absent when the bundle cannot be read). */
  manifest?: Record<string, unknown>;
  /** Why the bundle cannot be used, when it cannot. */
  error?: { code: string; message: string };
}

/** Options for {@link TaskRegistry}. */
export interface TaskRegistryOptions {
  /** Where bundles live. */
  store: BundleStore;
  /** Verifies and decodes bundle bytes. */
  decode: BundleDecoder;
  /** Memory budget for decoded prefixes, in bytes (default 256 MiB). */
  budgetBytes?: number;
  /** When given, each decoded prefix is also checked against these shapes. */
  config?: ModelConfig;
  /** Counters for loads and evictions. */
  metrics?: ServerMetrics;
}

/**
 * Tasks on demand, with an LRU cache of decoded prefixes.
 *
 * The budget is a soft limit for one entry: a task larger than the whole
 * budget is still served (it evicts everything else), because refusing it
 * would make the task unusable rather than slow.
 *
 * @example Serve tasks from a folder
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { loadModel } from "../model/mod.ts";
 * import { bundleDecoder, FolderBundleStore, TaskRegistry } from "./mod.ts";
 * const model = await loadModel("models/stories260K");
 * const registry = new TaskRegistry({
 *   store: new FolderBundleStore(await Deno.makeTempDir()),
 *   decode: bundleDecoder(model),
 *   budgetBytes: 64 << 20,
 *   config: model.config,
 * });
 * assertEquals((await registry.list()).length, 0); // no bundles yet; registry.get("greet") loads one
 * ```
 */
export class TaskRegistry {
  /** Where bundles are read from and written to. */
  readonly store: BundleStore;
  /** Memory budget for decoded prefixes, in bytes. */
  readonly budgetBytes: number;
  readonly #decode: BundleDecoder;
  readonly #config?: ModelConfig;
  readonly #metrics?: ServerMetrics;
  /** Insertion order is recency order: the first key is the least recently used. */
  readonly #cache = new Map<string, TaskEntry>();
  readonly #pending = new Map<string, Promise<TaskEntry>>();
  /** Bumped by every upload and delete, so a slow load never overwrites newer state. */
  readonly #generation = new Map<string, number>();
  /** Manifests seen so far; small, so they outlive evictions (for listings). */
  readonly #manifests = new Map<string, Record<string, unknown>>();
  #bytes = 0;

  /**
   * Create a registry; nothing is read until the first {@link TaskRegistry.get}.
   *
   * @param options store, decoder, budget, shapes to check and metrics
   */
  constructor(options: TaskRegistryOptions) {
    this.store = options.store;
    this.#decode = options.decode;
    this.budgetBytes = options.budgetBytes ?? 256 * 1024 * 1024;
    this.#config = options.config;
    this.#metrics = options.metrics;
  }

  /** Bytes of decoded prefixes in the cache. */
  get cachedBytes(): number {
    return this.#bytes;
  }

  /**
   * The decoded tasks in the cache.
   *
   * @returns the cached entries, least recently used first
   */
  cached(): TaskEntry[] {
    return [...this.#cache.values()];
  }

  /**
   * Get a task, loading it from the store on first use.
   *
   * @param task the task name
   * @returns the entry (hold on to it for the whole request)
   * @throws {PrefixEdgeError} `INVALID_INPUT` (bad name), `UNKNOWN_TASK`
   *   (not in the store), `TASK_LOAD_FAILED` (in the store but unusable; the
   *   message carries the decoder's code and message)
   */
  get(task: string): Promise<TaskEntry> {
    validateTaskName(task);
    const hit = this.#cache.get(task);
    if (hit) {
      this.#cache.delete(task);
      this.#cache.set(task, hit);
      return Promise.resolve(hit);
    }
    const pending = this.#pending.get(task);
    if (pending) return pending;
    const gen = this.#generation.get(task) ?? 0;
    const load = this.#load(task, gen).finally(() => {
      if (this.#pending.get(task) === load) this.#pending.delete(task);
    });
    this.#pending.set(task, load);
    return load;
  }

  async #load(task: string, gen: number): Promise<TaskEntry> {
    if (task === BASE_TASK) throw this.#unknown(task);
    const bytes = await this.store.read(task).catch((e) => {
      this.#metrics?.taskLoads.inc({ result: "error" });
      throw e;
    });
    if (!bytes) throw this.#unknown(task);
    let entry: TaskEntry;
    try {
      entry = await this.#decodeEntry(task, bytes);
    } catch (e) {
      this.#metrics?.taskLoads.inc({ result: "error" });
      const inner = e instanceof PrefixEdgeError ? `${e.message} (${e.code})` : String(e);
      throw new PrefixEdgeError(
        "TASK_LOAD_FAILED",
        `Cannot load task '${task}' from ${this.store.location}: ${inner}`,
        { cause: e },
      );
    }
    this.#metrics?.taskLoads.inc({ result: "ok" });
    if ((this.#generation.get(task) ?? 0) === gen) this.#manifests.set(task, entry.manifest);
    // An upload or delete happened while this load ran: its state wins, and
    // this request still gets the bundle it asked for.
    if ((this.#generation.get(task) ?? 0) === gen) this.#insert(entry);
    return entry;
  }

  async #decodeEntry(task: string, bytes: Uint8Array): Promise<TaskEntry> {
    const { manifest, prefix } = await this.#decode(bytes, task);
    if (this.#config) validatePrefix(this.#config, prefix, `task '${task}'`);
    return { task, manifest, prefix, bytes: prefix.kv.byteLength, loadedAt: Date.now() };
  }

  #unknown(task: string): PrefixEdgeError {
    return new PrefixEdgeError(
      "UNKNOWN_TASK",
      `Cannot find task '${task}': ${this.store.location} has no ${task}.prefix.zip`,
    );
  }

  #insert(entry: TaskEntry): void {
    this.#drop(entry.task);
    this.#cache.set(entry.task, entry);
    this.#bytes += entry.bytes;
    for (const [name, old] of this.#cache) {
      if (this.#bytes <= this.budgetBytes || name === entry.task) break;
      this.#cache.delete(name);
      this.#bytes -= old.bytes;
      this.#metrics?.taskEvictions.inc();
    }
    this.#updateGauges();
  }

  #drop(task: string): void {
    const old = this.#cache.get(task);
    if (!old) return;
    this.#cache.delete(task);
    this.#bytes -= old.bytes;
  }

  #updateGauges(): void {
    this.#metrics?.tasksLoaded.set(this.#cache.size);
    this.#metrics?.cacheBytes.set(this.#bytes);
  }

  /**
   * Verify a bundle, write it to the store and make it the task's bundle.
   * Nothing is written when verification fails.
   *
   * @param task the task name
   * @param bytes the bundle
   * @returns the new entry and whether it replaced a stored task
   * @throws {PrefixEdgeError} `INVALID_INPUT` (bad or reserved name), the
   *   decoder's code (`BUNDLE_*`, `BASE_MISMATCH`, ...) for a bad bundle,
   *   `STORE_READ_ONLY` for an HTTP store
   */
  async put(task: string, bytes: Uint8Array): Promise<{ entry: TaskEntry; replaced: boolean }> {
    validateTaskName(task);
    if (task === BASE_TASK) {
      throw new PrefixEdgeError(
        "INVALID_INPUT",
        `Cannot upload task '${BASE_TASK}': the name is reserved for the bare base model`,
      );
    }
    if (!this.store.writable) await this.store.write(task, bytes); // throws STORE_READ_ONLY
    const entry = await this.#decodeEntry(task, bytes);
    const existed = this.#cache.has(task) ||
      ((await this.store.list())?.includes(task) ?? false);
    await this.store.write(task, bytes);
    this.#generation.set(task, (this.#generation.get(task) ?? 0) + 1);
    this.#manifests.set(task, entry.manifest);
    this.#insert(entry);
    this.#metrics?.taskLoads.inc({ result: "ok" });
    return { entry, replaced: existed };
  }

  /**
   * Delete a task from the store and the cache. Requests already running on
   * it finish on the prefix they hold.
   *
   * @param task the task name
   * @returns whether the task existed
   * @throws {PrefixEdgeError} `INVALID_INPUT`, `STORE_READ_ONLY`
   */
  async remove(task: string): Promise<boolean> {
    validateTaskName(task);
    const removed = await this.store.remove(task);
    this.#generation.set(task, (this.#generation.get(task) ?? 0) + 1);
    const wasCached = this.#cache.has(task);
    this.#drop(task);
    this.#manifests.delete(task);
    this.#updateGauges();
    return removed || wasCached;
  }

  /**
   * Tasks the store holds plus those cached (an HTTP store cannot list, so
   * only tasks seen so far appear for it), with their manifests. A task whose
   * manifest has not been seen is read and verified once, without entering
   * the cache; a task that fails verification is listed with its error.
   */
  async list(): Promise<TaskListing[]> {
    const stored = (await this.store.list()) ?? [];
    const names = new Set([...stored, ...this.#cache.keys(), ...this.#manifests.keys()]);
    const out: TaskListing[] = [];
    for (const task of [...names].sort()) {
      const loaded = this.#cache.has(task);
      let manifest = this.#cache.get(task)?.manifest ?? this.#manifests.get(task);
      if (!manifest) {
        const gen = this.#generation.get(task) ?? 0;
        try {
          const bytes = await this.store.read(task);
          if (!bytes) continue; // removed since the listing
          manifest = (await this.#decodeEntry(task, bytes)).manifest;
          if ((this.#generation.get(task) ?? 0) === gen) this.#manifests.set(task, manifest);
        } catch (e) {
          const code = e instanceof PrefixEdgeError ? e.code : "INTERNAL_ERROR";
          out.push({ task, loaded, error: { code, message: (e as Error).message } });
          continue;
        }
      }
      out.push({ task, loaded, manifest });
    }
    return out;
  }
}
