/**
 * Where bundles live: a store only moves bytes (`<task>.prefix.zip`); the
 * registry verifies them. Implementations: {@link FolderBundleStore},
 * {@link HttpBundleStore}, {@link MemoryBundleStore}.
 *
 * @module
 */

/** A place that holds `<task>.prefix.zip` files. */
export interface BundleStore {
  /** Human-readable location, for logs. */
  readonly location: string;
  /** Whether {@link BundleStore.write} and {@link BundleStore.remove} work. */
  readonly writable: boolean;
  /**
   * Read a task's bundle.
   * @returns the bytes, or `null` when the store has no such task
   * @throws {PrefixEdgeError} `BUNDLE_TOO_LARGE` over the size limit,
   *   `TASK_LOAD_FAILED` when the store cannot be read
   */
  read(task: string): Promise<Uint8Array | null>;
  /**
   * Store a task's bundle, replacing any old one atomically: a reader sees
   * either the old bytes or the new ones, never a mix.
   * @throws {PrefixEdgeError} `STORE_READ_ONLY`
   */
  write(task: string, bytes: Uint8Array): Promise<void>;
  /**
   * Remove a task's bundle.
   * @returns whether there was one
   * @throws {PrefixEdgeError} `STORE_READ_ONLY`
   */
  remove(task: string): Promise<boolean>;
  /**
   * List the tasks.
   *
   * @returns the task names in the store, or `null` when the store cannot
   *   list (an HTTP base URL)
   */
  list(): Promise<string[] | null>;
}

/** The file name of a task's bundle. */
export function bundleFileName(task: string): string {
  return `${task}.prefix.zip`;
}

/** The default size limit for one bundle read from a store (64 MiB). */
export const DEFAULT_MAX_BUNDLE_BYTES = 64 * 1024 * 1024;
