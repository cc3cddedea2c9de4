/**
 * A folder of `<task>.prefix.zip` files. Writes go to a temp file in the same
 * folder and are renamed into place, which is atomic on POSIX file systems:
 * a request that is reading the old file keeps reading the old file.
 * A folder of training runs works too: a task missing at the top level is read from its run
 * folder `<task>/`, where `deno task train` writes it: `<task>/<task>.prefix.zip`, or the one
 * bundle a run folder holds under another name (`runs/pet-int/pet-stories.prefix.zip` is served
 * as `pet-int`: the folder names the run, and the store's name wins over the manifest's).
 *
 * @module
 */
import { join } from "node:path";
import { PrefixEdgeError } from "../errors/mod.ts";
import { readAt } from "../model/mod.ts";
import {
  BUNDLE_SUFFIX,
  bundleFileName,
  type BundleStore,
  DEFAULT_MAX_BUNDLE_BYTES,
  type VersionedRead,
} from "./bundle_store.ts";
import { TASK_NAME_PATTERN, validateTaskName } from "./task_name.ts";

/**
 * Bundles in a local folder.
 *
 * @example Store and read back
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { FolderBundleStore } from "./folder_bundle_store.ts";
 * const store = new FolderBundleStore(await Deno.makeTempDir());
 * await store.write("greet", new Uint8Array([1, 2, 3])); // bundle bytes, verified when read by a registry
 * assertEquals(await store.read("greet"), new Uint8Array([1, 2, 3]));
 * ```
 */
export class FolderBundleStore implements BundleStore {
  readonly writable = true;
  readonly location: string;

  /**
   * Use a folder as the store.
   *
   * @param dir the folder (created on first write if missing)
   * @param maxBytes refuse bundles larger than this
   */
  constructor(readonly dir: string, readonly maxBytes: number = DEFAULT_MAX_BUNDLE_BYTES) {
    this.location = dir;
  }

  #path(task: string): string {
    // Validated again here (not only in the routes) so that no caller can
    // build a path outside the folder.
    return join(this.dir, bundleFileName(validateTaskName(task)));
  }

  /**
   * Where a training run keeps the task's bundle: `<dir>/<task>/<task>.prefix.zip`, else the
   * run folder's only `*.prefix.zip`; null when the folder holds none, or several.
   */
  async #runPath(task: string): Promise<string | null> {
    const run = join(this.dir, validateTaskName(task));
    const named = join(run, bundleFileName(task));
    if (await Deno.stat(named).then((s) => s.isFile, () => false)) return named;
    const bundles = await runBundles(run);
    return bundles.length === 1 ? join(run, bundles[0]) : null;
  }

  async read(task: string): Promise<Uint8Array | null> {
    const got = await this.readVersion(task, null);
    return got.status === "found" ? got.bytes : null;
  }

  /**
   * The bytes unless the file is still the version `known`. A file's version is its inode,
   * size and modification time (`ino:size:mtime`): a write renames a new file into place, so
   * every write gets a new inode even within one millisecond.
   */
  async readVersion(task: string, known: string | null): Promise<VersionedRead> {
    const top = await this.#readFile(this.#path(task), known);
    if (top.status !== "missing") return top;
    const run = await this.#runPath(task);
    return run ? await this.#readFile(run, known) : top;
  }

  async #readFile(path: string, known: string | null): Promise<VersionedRead> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true });
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return { status: "missing" };
      throw new PrefixEdgeError(
        "TASK_LOAD_FAILED",
        `Cannot read ${path}: ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    }
    try {
      const stat = await file.stat();
      const size = stat.size;
      const version = fileVersion(stat);
      if (version === known) return { status: "unchanged" };
      if (size > this.maxBytes) {
        throw new PrefixEdgeError(
          "BUNDLE_TOO_LARGE",
          `Cannot read bundle ${path}: ${size} bytes is over the limit of ${this.maxBytes}`,
        );
      }
      return { status: "found", bytes: await readAt(file, 0, size), version };
    } finally {
      file.close();
    }
  }

  async write(task: string, bytes: Uint8Array): Promise<string> {
    const path = this.#path(task);
    await Deno.mkdir(this.dir, { recursive: true });
    // Temp names start with "." so list() never reports a half-written task.
    const tmp = join(this.dir, `.${bundleFileName(task)}.${crypto.randomUUID()}.tmp`);
    let written: Deno.FileInfo;
    try {
      await Deno.writeFile(tmp, bytes);
      written = await Deno.stat(tmp); // a rename keeps the inode and mtime: the version it gets
      await Deno.rename(tmp, path);
    } catch (e) {
      await Deno.remove(tmp).catch(() => {});
      throw new PrefixEdgeError(
        "INTERNAL_ERROR",
        `Cannot write bundle ${path}: ${(e as Error).message}`,
        { cause: e },
      );
    }
    return fileVersion(written);
  }

  async remove(task: string): Promise<boolean> {
    try {
      await Deno.remove(this.#path(task));
      return true;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return false;
      throw new PrefixEdgeError(
        "INTERNAL_ERROR",
        `Cannot remove bundle for task '${task}': ${(e as Error).message}`,
        { cause: e },
      );
    }
  }

  /**
   * List the tasks: `*.prefix.zip` files with a valid task name (temp files start with `.`),
   * and run folders `<task>/` holding `<task>.prefix.zip` or exactly one other bundle.
   *
   * @returns sorted task names (empty when the folder does not exist)
   */
  async list(): Promise<string[]> {
    return (await this.survey()).tasks;
  }

  /**
   * What {@link list} serves, and what it leaves out and why (a server says so at startup):
   * files and folders whose names are no task name, and folders with no bundle or several.
   *
   * @returns sorted task names, and one line per entry left out
   */
  async survey(): Promise<{ tasks: string[]; skipped: string[] }> {
    const names = new Set<string>();
    const skipped: string[] = [];
    const valid = (task: string) => TASK_NAME_PATTERN.test(task) && !task.includes("..");
    try {
      for await (const entry of Deno.readDir(this.dir)) {
        if (entry.name.startsWith(".")) continue;
        if (entry.isFile && entry.name.endsWith(BUNDLE_SUFFIX)) {
          const task = entry.name.slice(0, -BUNDLE_SUFFIX.length);
          if (valid(task)) names.add(task);
          else {skipped.push(
              `${entry.name}: "${task}" is not a task name (a-z, 0-9, '.', '_', '-')`,
            );}
        } else if (entry.isDirectory) {
          const bundles = await runBundles(join(this.dir, entry.name));
          if (bundles.length === 0) continue; // not a run, or a run without a bundle yet
          if (!valid(entry.name)) {
            skipped.push(`${entry.name}/: the folder's name is not a task name`);
          } else if (bundles.includes(bundleFileName(entry.name)) || bundles.length === 1) {
            names.add(entry.name);
          } else {
            skipped.push(
              `${entry.name}/: it holds ${bundles.length} bundles (${
                bundles.join(", ")
              }) and none is ${bundleFileName(entry.name)}`,
            );
          }
        }
      }
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return { tasks: [], skipped: [] };
      throw e;
    }
    return { tasks: [...names].sort(), skipped: skipped.sort() };
  }
}

/** A file's version tag: inode, size and modification time. */
function fileVersion(stat: Deno.FileInfo): string {
  return `${stat.ino ?? 0}:${stat.size}:${stat.mtime?.getTime() ?? 0}`;
}

/** The `*.prefix.zip` files directly in a folder (none when it is missing), sorted. */
async function runBundles(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && e.name.endsWith(BUNDLE_SUFFIX) && !e.name.startsWith(".")) out.push(e.name);
    }
  } catch {
    return [];
  }
  return out.sort();
}
