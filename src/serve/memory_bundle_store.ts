/**
 * Bundles held in memory: for tests, and for workers without a disk that
 * still accept uploads (they are lost when the process ends).
 *
 * @module
 */
import type { BundleStore } from "./bundle_store.ts";
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
  readonly #files = new Map<string, Uint8Array>();

  /**
   * Create an in-memory store.
   *
   * @param initial bundles to start with, by task name
   */
  constructor(initial: Record<string, Uint8Array> = {}) {
    for (const [task, bytes] of Object.entries(initial)) {
      this.#files.set(validateTaskName(task), bytes);
    }
  }

  read(task: string): Promise<Uint8Array | null> {
    return Promise.resolve(this.#files.get(validateTaskName(task)) ?? null);
  }

  write(task: string, bytes: Uint8Array): Promise<void> {
    // A copy, so that the caller reusing its buffer cannot change a stored bundle.
    this.#files.set(validateTaskName(task), bytes.slice());
    return Promise.resolve();
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
