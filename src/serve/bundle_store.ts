/**
 * Where bundles live: a store only moves bytes (`<task>.prefix.zip`); the
 * registry verifies them. Implementations: {@link FolderBundleStore},
 * {@link HttpBundleStore}, {@link MemoryBundleStore}, {@link S3BundleStore}.
 *
 * A store that can tell versions of a bundle (an S3 or HTTP ETag, a file's inode, size and
 * mtime, a counter in memory) implements {@link BundleStore.readVersion}; the registry then
 * revalidates what it has cached at most every `revalidateMs`, so replicas on one store agree.
 *
 * @module
 */

/**
 * What {@link BundleStore.readVersion} found: no bundle, the same version as the caller's, or
 * the bytes of another version with its tag (`null` when the store gave none).
 */
export type VersionedRead =
  | { status: "missing" }
  | { status: "unchanged" }
  | { status: "found"; bytes: Uint8Array; version: string | null };

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
   * @returns the new version's tag, when the store tells one (see {@link BundleStore.readVersion})
   * @throws {PrefixEdgeError} `STORE_READ_ONLY`
   */
  write(task: string, bytes: Uint8Array): Promise<string | null | void>;
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
  /**
   * Read a task's bundle unless the store still holds the version tagged `known` (a conditional
   * GET with `If-None-Match`, or a `stat`). Optional: a store without it is read once per task
   * and never revalidated.
   *
   * @param task the task name
   * @param known the version the caller holds, or `null` for none
   * @returns `missing`, `unchanged`, or `found` with the bytes and their version tag
   * @throws {PrefixEdgeError} as {@link BundleStore.read}
   */
  readVersion?(task: string, known: string | null): Promise<VersionedRead>;
}

/** What a bundle's file (or object key) ends with, after its task name. */
export const BUNDLE_SUFFIX = ".prefix.zip";

/** The file name of a task's bundle. */
export function bundleFileName(task: string): string {
  return `${task}${BUNDLE_SUFFIX}`;
}

/** The default size limit for one bundle read from a store (64 MiB). */
export const DEFAULT_MAX_BUNDLE_BYTES = 64 * 1024 * 1024;
