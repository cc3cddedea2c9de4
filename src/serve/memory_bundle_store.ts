/**
 * Bundles held in memory: for tests, and for workers without a disk that
 * still accept uploads (they are lost when the process ends).
 *
 * @module
 */
import type { BundleStore, VersionedRead } from "./bundle_store.ts";
import { validateTaskName } from "./task_name.ts";

/**
 * An in-memory store.
 *
 * @example Keep a bundle in memory
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { MemoryBundleStore } from "./memory_bundle_store.ts";
 * const store = new MemoryBundleStore();
 * await store.write("greet", new Uint8Array([1, 2, 3]));
 * assertEquals(await store.list(), ["greet"]);
 * ```
 */
export class MemoryBundleStore implements BundleStore {
  readonly writable = true;
  readonly location = "memory";
  readonly #files = new Map<string, { bytes: Uint8Array; version: string }>();
  /** Every write gets a new version tag, never reused (a delete and a write are a new version). */
  #writes = 0;

  /**
   * Create an in-memory store.
   *
   * @param initial bundles to start with, by task name
   */
  constructor(initial: Record<string, Uint8Array> = {}) {
    for (const [task, bytes] of Object.entries(initial)) {
      this.#files.set(validateTaskName(task), { bytes, version: `m${++this.#writes}` });
    }
  }

  read(task: string): Promise<Uint8Array | null> {
    return Promise.resolve(this.#files.get(validateTaskName(task))?.bytes ?? null);
  }

  /** The bytes unless `known` is still the task's version (a counter of writes). */
  readVersion(task: string, known: string | null): Promise<VersionedRead> {
    const file = this.#files.get(validateTaskName(task));
    if (!file) return Promise.resolve({ status: "missing" });
    if (file.version === known) return Promise.resolve({ status: "unchanged" });
    return Promise.resolve({ status: "found", bytes: file.bytes, version: file.version });
  }

  write(task: string, bytes: Uint8Array): Promise<string> {
    // A copy, so that the caller reusing its buffer cannot change a stored bundle.
    const version = `m${++this.#writes}`;
    this.#files.set(validateTaskName(task), { bytes: bytes.slice(), version });
    return Promise.resolve(version);
  }

  remove(task: string): Promise<boolean> {
    return Promise.resolve(this.#files.delete(validateTaskName(task)));
  }

  /**
   * List the tasks.
   *
   * @returns sorted task names
   */
  list(): Promise<string[]> {
    return Promise.resolve([...this.#files.keys()].sort());
  }
}
