/**
 * A seeded mutation fuzzer for bundles, shared by tests/bundle/fuzz_test.ts (a few hundred
 * mutations) and bench/bundle_fuzz_bench.ts (10,000 and more). Mutations: raw zip bytes, the inner
 * files re-zipped with valid CRCs, and the tensor file with its manifest checksum fixed up so the
 * safetensors parser itself is reached. Every outcome must be a typed error or a valid bundle:
 * never another exception, never a hang.
 */
import { assert } from "../_assert.ts";
import { BundleError, PrefixBundle } from "../../src/bundle/mod.ts";
import { PrefixEdgeError } from "../../src/errors/mod.ts";
import { SeededRandom } from "../../src/model/mod.ts";
import { gpt2Tiny, oraclePrefix, rezip, sha256 } from "./_helpers.ts";

/** What a fuzz run saw. */
export interface FuzzReport {
  /** Count per outcome: `valid`, or the error code. */
  outcomes: Record<string, number>;
  /** Wall time of the whole run, ms. */
  elapsedMs: number;
  /** The slowest single mutation, ms. */
  maxMs: number;
}

/** Options for {@link fuzzBundles}. */
export interface FuzzOptions {
  /** How many mutations. */
  mutations: number;
  /** The generator's seed. */
  seed: number;
  /** A single mutation taking longer than this is a hang (default 2000 ms). */
  hangMs?: number;
  /** Called every 1000 mutations. */
  onProgress?: (done: number, outcomes: Record<string, number>) => void;
}

function mutateBytes(src: Uint8Array, r: () => number): Uint8Array {
  const int = (n: number) => Math.floor(r() * n);
  const kind = int(5);
  let b = src.slice();
  if (kind === 0) {
    for (let k = 1 + int(4); k > 0; k--) b[int(b.length)] ^= 1 << int(8);
  } else if (kind === 1) {
    const at = int(b.length), n = 1 + int(16);
    for (let i = at; i < Math.min(b.length, at + n); i++) b[i] = int(256);
  } else if (kind === 2) {
    b = b.subarray(0, int(b.length));
  } else if (kind === 3) {
    const at = int(b.length), ins = new Uint8Array(1 + int(32)).map(() => int(256));
    const out = new Uint8Array(b.length + ins.length);
    out.set(b.subarray(0, at));
    out.set(ins, at);
    out.set(b.subarray(at), at + ins.length);
    b = out;
  } else {
    // Interesting values at a random 4-byte-aligned spot: sizes, offsets, counts.
    const vals = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0xffffffff, 0x7fffffff];
    const at = int(Math.max(1, b.length - 4)) & ~3;
    if (at + 4 <= b.length) new DataView(b.buffer).setUint32(at, vals[int(vals.length)], true);
  }
  return b;
}

function mutateJson(text: string, r: () => number): string {
  const m = JSON.parse(text);
  const int = (n: number) => Math.floor(r() * n);
  const paths: string[][] = [];
  const walk = (o: unknown, p: string[]) => {
    if (o && typeof o === "object") {
      for (const k of Object.keys(o as object)) {
        paths.push([...p, k]);
        walk((o as Record<string, unknown>)[k], [...p, k]);
      }
    }
  };
  walk(m, []);
  const path = paths[int(paths.length)];
  let parent = m;
  for (const k of path.slice(0, -1)) parent = parent[k];
  const key = path[path.length - 1];
  const choices = [
    undefined,
    null,
    0,
    -1,
    1e300,
    2 ** 53,
    "x",
    "",
    [],
    {},
    true,
    NaN,
    parent[key] * 2,
  ];
  const v = choices[int(choices.length)];
  if (v === undefined) delete parent[key];
  else parent[key] = v;
  return JSON.stringify(m);
}

/**
 * Run the fuzzer.
 *
 * @param options count, seed, hang limit and progress callback
 * @returns the outcomes
 * @throws Error on an untyped error or a hang
 */
export async function fuzzBundles(options: FuzzOptions): Promise<FuzzReport> {
  const { mutations, seed, hangMs = 2000, onProgress } = options;
  let maxMs = 0;
  const model = await gpt2Tiny();
  const bundles = await Promise.all(
    (["F32", "F16", "I8"] as const).map(async (dtype) =>
      (await PrefixBundle.create({
        prefix: await oraclePrefix(),
        model,
        task: "fuzz",
        method: { reparam: "none", gate: false, midDim: null },
      })).toBytes({ dtype })
    ),
  );
  const rand = new SeededRandom(seed);
  const r = () => rand.next();
  const outcomes: Record<string, number> = {};
  const started = performance.now();
  for (let i = 0; i < mutations; i++) {
    const base = bundles[i % 3];
    const family = Math.floor(r() * 4);
    let bytes: Uint8Array;
    if (family === 0) {
      bytes = mutateBytes(base, r);
    } else if (family === 1) {
      bytes = rezip(base, (f) => {
        const text = new TextDecoder().decode(f["manifest.json"]);
        f["manifest.json"] = r() < 0.5
          ? new TextEncoder().encode(mutateJson(text, r))
          : mutateBytes(f["manifest.json"], r);
      });
    } else {
      // Mutate the tensor file, then fix the manifest's sha256 (families 2, 3)
      // so the safetensors parser and the shape/NaN checks see the damage.
      const files: Record<string, Uint8Array> = {};
      rezip(base, (f) => Object.assign(files, f));
      const st = mutateBytes(files["prefix.safetensors"], r);
      const digest = await sha256(st);
      bytes = rezip(base, (f) => {
        f["prefix.safetensors"] = st;
        const m = JSON.parse(new TextDecoder().decode(f["manifest.json"]));
        m.sha256 = digest;
        f["manifest.json"] = new TextEncoder().encode(JSON.stringify(m));
      });
    }
    const t0 = performance.now();
    try {
      const b = await PrefixBundle.fromBytes(bytes, { model, source: `mutant-${i}` });
      assert(b.prefix.kv.every(Number.isFinite));
      outcomes.valid = (outcomes.valid ?? 0) + 1;
    } catch (e) {
      if (!(e instanceof BundleError) || !(e instanceof PrefixEdgeError)) {
        throw new Error(`mutation ${i} (family ${family}) threw an untyped error: ${e}`, {
          cause: e,
        });
      }
      assert(e.message.includes(`mutant-${i}`), e.message);
      outcomes[e.code] = (outcomes[e.code] ?? 0) + 1;
    }
    const ms = performance.now() - t0;
    maxMs = Math.max(maxMs, ms);
    if (ms > hangMs) throw new Error(`mutation ${i} took ${ms.toFixed(0)} ms (a hang)`);
    if (onProgress && (i + 1) % 1000 === 0) onProgress(i + 1, outcomes);
  }
  return { outcomes, elapsedMs: performance.now() - started, maxMs };
}
