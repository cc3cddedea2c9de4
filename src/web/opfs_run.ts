/**
 * A training run kept in the page's origin private file system (OPFS): its checkpoint survives a
 * reload, so a run stopped in a tab resumes there. Falls back to memory where a page has no OPFS.
 *
 * @module
 */
import { memoryRun, type RunFiles } from "../train/mod.ts";

// The parts of the File System API used here (Deno's own types do not describe a page's OPFS).
interface FileHandle {
  getFile(): Promise<Blob>;
  createWritable(options?: { keepExistingData?: boolean }): Promise<WritableFile>;
}
interface WritableFile {
  write(data: Uint8Array | { type: "write"; position: number; data: Uint8Array }): Promise<void>;
  close(): Promise<void>;
}
interface DirectoryHandle {
  getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<DirectoryHandle>;
  getFileHandle(name: string, options?: { create?: boolean }): Promise<FileHandle>;
  removeEntry(name: string, options?: { recursive?: boolean }): Promise<void>;
}
interface StorageManager {
  getDirectory?(): Promise<DirectoryHandle>;
}

const storageManager = () =>
  (globalThis.navigator as { storage?: StorageManager } | undefined)?.storage;

/**
 * The run folder `name` under the origin's private file system (created on demand).
 *
 * @param name the run's folder name, e.g. the task
 * @returns the run's files: in OPFS where the page has it, else in memory
 */
export async function opfsRun(name: string): Promise<RunFiles> {
  const storage = storageManager();
  if (!storage?.getDirectory) return memoryRun(name);
  const root = await storage.getDirectory();
  return folder(await root.getDirectoryHandle(name, { create: true }), name);
}

/**
 * Delete a run folder from the origin's private file system (a fresh start).
 *
 * @param name the run's folder name
 */
export async function removeOpfsRun(name: string): Promise<void> {
  const storage = storageManager();
  if (!storage?.getDirectory) return;
  const root = await storage.getDirectory();
  await root.removeEntry(name, { recursive: true }).catch(() => {});
}

function folder(dir: DirectoryHandle, name: string): RunFiles {
  const split = (rel: string) => {
    const parts = rel.split("/").filter((p) => p !== "");
    return { dirs: parts.slice(0, -1), file: parts.at(-1)! };
  };
  const walk = async (dirs: string[], create: boolean) => {
    let d = dir;
    for (const part of dirs) d = await d.getDirectoryHandle(part, { create });
    return d;
  };
  const handle = async (rel: string, create: boolean) => {
    const { dirs, file } = split(rel);
    return await (await walk(dirs, create)).getFileHandle(file, { create });
  };
  const missing = (e: unknown) =>
    e instanceof DOMException && (e.name === "NotFoundError" || e.name === "TypeMismatchError");
  const bytes = (data: Uint8Array | string) =>
    typeof data === "string" ? new TextEncoder().encode(data) : data;
  const self: RunFiles = {
    name,
    pathOf: (rel) => `${name}/${rel}`,
    create: () => Promise.resolve(),
    async has(rel) {
      try {
        await handle(rel, false);
        return true;
      } catch (e) {
        if (missing(e)) return false;
        throw e;
      }
    },
    async read(rel) {
      try {
        const file = await (await handle(rel, false)).getFile();
        return new Uint8Array(await file.arrayBuffer());
      } catch (e) {
        if (missing(e)) return undefined;
        throw e;
      }
    },
    async write(rel, data) {
      // A writable stream replaces the file only when it closes: readers never see half of it.
      const w = await (await handle(rel, true)).createWritable();
      await w.write(bytes(data));
      await w.close();
    },
    async append(rel, text) {
      const h = await handle(rel, true);
      const size = (await h.getFile()).size;
      const w = await h.createWritable({ keepExistingData: true });
      await w.write({ type: "write", position: size, data: bytes(text) });
      await w.close();
    },
    sub: (rel) => prefixed(self, `${rel.replace(/\/+$/, "")}/`),
  };
  return self;
}

/** A view of `run` whose paths start with `prefix`. */
function prefixed(run: RunFiles, prefix: string): RunFiles {
  return {
    name: run.pathOf(prefix.slice(0, -1)),
    pathOf: (rel) => run.pathOf(prefix + rel),
    create: () => Promise.resolve(),
    has: (rel) => run.has(prefix + rel),
    read: (rel) => run.read(prefix + rel),
    write: (rel, data) => run.write(prefix + rel, data),
    append: (rel, text) => run.append(prefix + rel, text),
    sub: (rel) => prefixed(run, `${prefix}${rel.replace(/\/+$/, "")}/`),
  };
}
