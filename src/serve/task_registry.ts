/**
 * The task registry: bundles are read from a store on first use, verified
 * against the base model by an injected decoder, and kept decoded in an LRU
 * under a memory budget.
 *
 * Replacement is atomic from a request's point of view: a request holds the
 * {@link TaskEntry} it got, so an upload or an eviction while it runs never
 * changes the prefix under it; the next request sees the new bundle.
 *
 * Replicas on one store agree: a cached task is revalidated against the store's version tag
 * (an ETag; see {@link BundleStore.readVersion}) at most every `revalidateMs`, and a task not
 * in the cache is read from the store at once. A bundle replaced in the store is served new,
 * a deleted one is refused, and a bundle that fails verification is refused and logged (the
 * last good copy is dropped too, so every replica answers the same), within that bound.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import { type ModelConfig, type Prefix, sha256Hex, validatePrefix } from "../model/mod.ts";
import type { BundleStore, VersionedRead } from "./bundle_store.ts";
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
  /** The store's version tag of the bundle (an ETag), or `null` when it gave none. */
  readonly version?: string | null;
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
  /**
   * Revalidate a cached task against the store at most this often, ms (default
   * {@link DEFAULT_REVALIDATE_MS}; `0` = on every request; `Infinity` = never). Only stores that
   * implement `readVersion` are revalidated.
   */
  revalidateMs?: number;
  /** Where "task changed in the store" and "refused" lines go (default: nowhere). */
  log?: (line: string) => void;
}

/** How often a cached task is checked against the store by default: 5 s. */
export const DEFAULT_REVALIDATE_MS = 5_000;

/** A task whose stored bundle failed verification: remembered per version, not re-read. */
interface Refused {
  version: string;
  error: PrefixEdgeError;
  checkedAt: number;
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
  /** When each cached task was last found current in the store (ms since the epoch). */
  readonly #checkedAt = new Map<string, number>();
  /** Revalidations in flight, shared by concurrent requests for the task. */
  readonly #revalidating = new Map<string, Promise<TaskEntry>>();
  /** Stored versions that failed verification, so a broken bundle is not re-read per request. */
  readonly #refused = new Map<string, Refused>();
  readonly #revalidateMs: number;
  readonly #log: (line: string) => void;
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
    this.#revalidateMs = Math.max(0, options.revalidateMs ?? DEFAULT_REVALIDATE_MS);
    this.#log = options.log ?? (() => {});
  }

  /** How often a cached task is checked against the store, ms. */
  get revalidateMs(): number {
    return this.#revalidateMs;
  }

  /** Whether a check made at `at` is too old. */
  #stale(at: number | undefined): boolean {
    return at === undefined || Date.now() - at >= this.#revalidateMs;
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
   * Get a task, loading it from the store on first use, and revalidating a cached one when
   * its last check is older than `revalidateMs`.
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
      if (!this.store.readVersion || !this.#stale(this.#checkedAt.get(task))) {
        return Promise.resolve(hit);
      }
      const running = this.#revalidating.get(task);
      if (running) return running;
      const check = this.#revalidate(task, hit).finally(() => {
        if (this.#revalidating.get(task) === check) this.#revalidating.delete(task);
      });
      this.#revalidating.set(task, check);
      return check;
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
    const refused = this.#refused.get(task);
    if (refused && !this.#stale(refused.checkedAt)) throw refused.error;
    const read = await this.#readStore(task, refused?.version ?? null);
    if (read.status === "missing") {
      this.#refused.delete(task);
      throw this.#unknown(task);
    }
    if (read.status === "unchanged") {
      // Only asked with the refused version: the store still holds that broken bundle.
      refused!.checkedAt = Date.now();
      throw refused!.error;
    }
    const entry = await this.#decodeStored(task, read.bytes, read.version, gen);
    this.#metrics?.taskLoads.inc({ result: "ok" });
    if ((this.#generation.get(task) ?? 0) === gen) this.#manifests.set(task, entry.manifest);
    // An upload or delete happened while this load ran: its state wins, and
    // this request still gets the bundle it asked for.
    if ((this.#generation.get(task) ?? 0) === gen) this.#insert(entry);
    return entry;
  }

  /** Read a task from the store, conditionally when the store can tell versions. */
  async #readStore(task: string, known: string | null): Promise<VersionedRead> {
    let read: VersionedRead;
    try {
      if (this.store.readVersion) read = await this.store.readVersion(task, known);
      else {
        const bytes = await this.store.read(task);
        read = bytes ? { status: "found", bytes, version: null } : { status: "missing" };
      }
    } catch (e) {
      this.#metrics?.taskLoads.inc({ result: "error" });
      this.#metrics?.storeReads.inc({ result: "error" });
      throw e;
    }
    this.#metrics?.storeReads.inc({
      result: read.status === "found"
        ? "downloaded"
        : read.status === "unchanged"
        ? "not_modified"
        : "missing",
    });
    return read;
  }

  /**
   * Verify bytes read from the store. A failure is counted, logged, remembered for its
   * version (so the same broken bundle is not re-read on every request) and thrown as
   * `TASK_LOAD_FAILED`.
   */
  async #decodeStored(
    task: string,
    bytes: Uint8Array,
    storeVersion: string | null,
    gen: number,
  ): Promise<TaskEntry> {
    const version = storeVersion ??
      (this.store.readVersion ? `sha256:${await sha256Hex(bytes)}` : null);
    try {
      const entry = await this.#decodeEntry(task, bytes, version);
      this.#refused.delete(task);
      this.#checkedAt.set(task, Date.now());
      return entry;
    } catch (e) {
      this.#metrics?.taskLoads.inc({ result: "error" });
      const inner = e instanceof PrefixEdgeError ? `${e.message} (${e.code})` : String(e);
      const error = new PrefixEdgeError(
        "TASK_LOAD_FAILED",
        `Cannot load task '${task}' from ${this.store.location}: ${inner}`,
        { cause: e },
      );
      if (version !== null && (this.#generation.get(task) ?? 0) === gen) {
        this.#refused.set(task, { version, error, checkedAt: Date.now() });
        this.#log(`refused task '${task}' in the store (version ${version}): ${inner}`);
      }
      throw error;
    }
  }

  /**
   * Check a cached task against the store: keep it while its version is current, load the new
   * version when it changed, and drop it when it is gone or its new version fails verification.
   * A store that cannot be reached keeps the cached copy serving (logged) until the next check.
   */
  async #revalidate(task: string, hit: TaskEntry): Promise<TaskEntry> {
    const gen = this.#generation.get(task) ?? 0;
    let read: VersionedRead;
    try {
      read = await this.#readStore(task, hit.version ?? null);
    } catch (e) {
      this.#checkedAt.set(task, Date.now());
      this.#log(
        `cannot revalidate task '${task}'; serving the cached copy: ${(e as Error).message}`,
      );
      return hit;
    }
    const current = (this.#generation.get(task) ?? 0) === gen && this.#cache.get(task) === hit;
    if (read.status === "unchanged") {
      this.#checkedAt.set(task, Date.now());
      return this.#cache.get(task) ?? hit;
    }
    if (read.status === "missing") {
      if (current) {
        this.#forget(task);
        this.#log(`task '${task}' is no longer in ${this.store.location}; dropped it`);
      }
      throw this.#unknown(task);
    }
    try {
      const entry = await this.#decodeStored(task, read.bytes, read.version, gen);
      if (entry.version !== null && entry.version === hit.version) return hit;
      this.#metrics?.taskLoads.inc({ result: "ok" });
      if (current) {
        this.#manifests.set(task, entry.manifest);
        this.#insert(entry);
        this.#log(`task '${task}' changed in ${this.store.location}; loaded the new bundle`);
      }
      return entry;
    } catch (e) {
      if (current) this.#forget(task, false);
      throw e;
    }
  }

  /** Drop a task's cached state (not its refusal, unless `all`). */
  #forget(task: string, all = true): void {
    this.#drop(task);
    this.#manifests.delete(task);
    this.#checkedAt.delete(task);
    if (all) this.#refused.delete(task);
    this.#updateGauges();
  }

  async #decodeEntry(
    task: string,
    bytes: Uint8Array,
    version: string | null,
  ): Promise<TaskEntry> {
    const { manifest, prefix } = await this.#decode(bytes, task);
    if (this.#config) validatePrefix(this.#config, prefix, `task '${task}'`);
    return { task, manifest, prefix, bytes: prefix.kv.byteLength, loadedAt: Date.now(), version };
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
    const decoded = await this.#decodeEntry(task, bytes, null);
    const existed = this.#cache.has(task) ||
      ((await this.store.list())?.includes(task) ?? false);
    const written = await this.store.write(task, bytes);
    // The store's tag for what was written, so the next check finds it current.
    const entry: TaskEntry = {
      ...decoded,
      version: typeof written === "string"
        ? written
        : this.store.readVersion
        ? `sha256:${await sha256Hex(bytes)}`
        : null,
    };
    this.#generation.set(task, (this.#generation.get(task) ?? 0) + 1);
    this.#manifests.set(task, entry.manifest);
    this.#refused.delete(task);
    this.#checkedAt.set(task, Date.now());
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
    this.#forget(task);
    return removed || wasCached;
  }

  /**
   * Tasks the store holds plus those cached (an HTTP store cannot list, so
   * only tasks seen so far appear for it), with their manifests. A task whose
   * manifest has not been seen is read and verified once, without entering
   * the cache; a task that fails verification is listed with its error.
   */
  async list(): Promise<TaskListing[]> {
    const before = new Map(this.#generation);
    const listed = await this.store.list();
    const gone = new Set<string>();
    if (listed && this.store.readVersion) {
      // A store that lists and tells versions is the truth for which tasks exist: a task another
      // replica deleted leaves this listing at once, and the cache at its next check.
      const inStore = new Set(listed);
      for (const task of [...this.#manifests.keys(), ...this.#cache.keys()]) {
        if (inStore.has(task) || (this.#generation.get(task) ?? 0) !== (before.get(task) ?? 0)) {
          continue;
        }
        gone.add(task);
        this.#manifests.delete(task);
        this.#checkedAt.set(task, 0);
      }
    }
    const stored = listed ?? [];
    const names = new Set(
      [...stored, ...this.#cache.keys(), ...this.#manifests.keys()].filter((t) => !gone.has(t)),
    );
    const out: TaskListing[] = [];
    for (const task of [...names].sort()) {
      const loaded = this.#cache.has(task);
      let manifest = this.#cache.get(task)?.manifest ?? this.#manifests.get(task);
      const refused = this.#refused.get(task);
      if (!manifest && refused && !this.#stale(refused.checkedAt)) {
        const cause = refused.error.cause;
        const code = cause instanceof PrefixEdgeError ? cause.code : refused.error.code;
        out.push({ task, loaded, error: { code, message: refused.error.message } });
        continue;
      }
      if (!manifest) {
        const gen = this.#generation.get(task) ?? 0;
        try {
          const bytes = await this.store.read(task);
          if (!bytes) continue; // removed since the listing
          manifest = (await this.#decodeEntry(task, bytes, null)).manifest;
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
