/**
 * Where a training run writes: metrics.jsonl, the plots, checkpoint/, the bundle and
 * summary.json. In Deno that is a folder ({@link folderRun}); in a page it is the origin's private
 * file system or memory (src/web/), so the same loop trains in a tab. Paths are relative, with `/`.
 *
 * @module
 */
import { join } from "pathe";
import { PrefixEdgeError } from "../../errors/mod.ts";
import { concatBytes, folderFiles } from "../../model/mod.ts";

/** The files of one run. */
export interface RunFiles {
  /** How messages name the run (its folder's path, or a name). */
  readonly name: string;
  /** How messages and results name one of its files. */
  pathOf(rel: string): string;
  /**
   * Make the run's place (a folder and the folders above it).
   * @throws {PrefixEdgeError} `INVALID_INPUT` when it cannot be a folder
   */
  create(): Promise<void>;
  /** Whether the file exists. */
  has(rel: string): Promise<boolean>;
  /** A file's bytes, or `undefined` when it is absent. */
  read(rel: string): Promise<Uint8Array | undefined>;
  /** Replace a file (whole: a reader sees the old file or the new one, never half of one). */
  write(rel: string, data: Uint8Array | string): Promise<void>;
  /** Append text to a file (created if absent). */
  append(rel: string, text: string): Promise<void>;
  /** The files under a subfolder, as a run of their own (`checkpoint/`). */
  sub(rel: string): RunFiles;
}

/** What a run writes to: a folder path, or a {@link RunFiles}. */
export type RunTarget = string | RunFiles;

/**
 * The run's files for a target.
 *
 * @param target a folder path or a {@link RunFiles}
 * @returns the files
 */
export function runFiles(target: RunTarget): RunFiles {
  return typeof target === "string" ? folderRun(target) : target;
}

const encode = (data: Uint8Array | string) =>
  typeof data === "string" ? new TextEncoder().encode(data) : data;

/**
 * A run in memory: what a page without storage, or a test, writes to.
 *
 * @example Files a run would write
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { memoryRun } from "./run_files.ts";
 * const run = memoryRun("demo");
 * await run.write("summary.json", "{}");
 * await run.sub("checkpoint").write("checkpoint.json", "{}");
 * assertEquals([...run.files.keys()], ["summary.json", "checkpoint/checkpoint.json"]);
 * ```
 *
 * @param name how messages name the run
 * @returns the run's files; `files` holds every file by relative path
 */
export function memoryRun(name = "<memory>"): RunFiles & { files: Map<string, Uint8Array> } {
  const files = new Map<string, Uint8Array>();
  const view = (prefix: string): RunFiles => ({
    name: prefix ? `${name}/${prefix.slice(0, -1)}` : name,
    pathOf: (rel) => `${name}/${prefix}${rel}`,
    create: () => Promise.resolve(),
    has: (rel) => Promise.resolve(files.has(prefix + rel)),
    read: (rel) => Promise.resolve(files.get(prefix + rel)),
    write(rel, data) {
      files.set(prefix + rel, encode(data).slice());
      return Promise.resolve();
    },
    append(rel, text) {
      files.set(
        prefix + rel,
        concatBytes([files.get(prefix + rel) ?? new Uint8Array(), encode(text)]),
      );
      return Promise.resolve();
    },
    sub: (rel) => view(`${prefix}${rel.replace(/\/+$/, "")}/`),
  });
  return Object.assign(view(""), { files });
}

/**
 * A run folder on disk (Deno). Writes go to `<file>.tmp` and are renamed over the file.
 *
 * @param dir the folder
 * @returns the run's files
 */
export function folderRun(dir: string): RunFiles {
  const path = (rel: string) => join(dir, rel);
  return {
    name: dir,
    pathOf: path,
    async create() {
      try {
        await Deno.mkdir(dir, { recursive: true });
      } catch (e) {
        const why = e instanceof Deno.errors.AlreadyExists || e instanceof Deno.errors.NotADirectory
          ? "it, or a folder above it, is a file"
          : e instanceof Deno.errors.PermissionDenied
          ? "permission denied"
          : null;
        if (why === null) throw e;
        throw new PrefixEdgeError(
          "INVALID_INPUT",
          `Cannot write the run to ${dir}: ${why}; the output (--out) is a folder`,
          { cause: e },
        );
      }
    },
    async has(rel) {
      try {
        await Deno.stat(path(rel));
        return true;
      } catch (e) {
        if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
          return false;
        }
        throw e;
      }
    },
    read: (rel) => folderFiles(dir).read(rel),
    async write(rel, data) {
      const p = path(rel);
      await Deno.mkdir(join(p, ".."), { recursive: true });
      await Deno.writeFile(`${p}.tmp`, encode(data));
      await Deno.rename(`${p}.tmp`, p);
    },
    async append(rel, text) {
      await Deno.writeTextFile(path(rel), text, { append: true });
    },
    sub: (rel) => folderRun(path(rel)),
  };
}
