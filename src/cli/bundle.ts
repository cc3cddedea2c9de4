/**
 * `deno task bundle`: inspect, convert and exchange prefix bundles.
 *
 *   deno task bundle inspect FILE [--model DIR] [--json]
 *   deno task bundle convert FILE --dtype f16|i8|f32 --out FILE [--model DIR]
 *   deno task bundle export-peft FILE --model DIR --out DIR
 *   deno task bundle import-peft DIR --model DIR --out FILE [--task NAME] [--dtype f16]
 *   deno task bundle push FILE --store STORE [--task NAME] [--model DIR]
 *   deno task bundle pull TASK --store STORE --out FILE [--model DIR]
 *   deno task bundle ls STORE
 *
 * Every subcommand has `--help`. Refusals print `error [CODE]: message` and
 * exit 1; usage errors exit 2.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { PrefixEdgeError } from "../errors/mod.ts";
import { type LoadedModel, loadModel } from "../model/mod.ts";
import {
  BUNDLE_DTYPES,
  type BundleDtype,
  exportPeft,
  importPeft,
  PrefixBundle,
  validateTaskName,
} from "../bundle/mod.ts";
import { openBundleStore } from "../serve/mod.ts";
import { cliFailure, type CliSpec, EXIT, formatHelp, parseCliArgs, UsageError } from "./_args.ts";
import { VERSION } from "../version.ts";

/** Where the CLI writes; tests pass collectors. */
export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

const STORE_OPT = {
  type: "string" as const,
  valueName: "STORE",
  description: "Bundle store: a folder, s3://BUCKET/PREFIX, or an http(s) base URL (read-only)",
};

const MODEL_OPT = {
  type: "string" as const,
  valueName: "DIR",
  description: "Base model folder (HF layout) to verify the bundle against",
};

const SPECS: Record<string, CliSpec & { args: string; run: Run }> = {
  inspect: {
    usage: "deno task bundle inspect FILE [--model DIR] [--json]",
    args: "FILE",
    description:
      "Verify a bundle and print its manifest. Without --model only the file itself is checked (zip bounds, manifest, checksum, dtype, shape, NaN/Inf) and the output says that the base model was not verified.",
    options: {
      model: MODEL_OPT,
      json: { type: "boolean", description: "Print JSON instead of a table" },
    },
    run: inspect,
  },
  convert: {
    usage: "deno task bundle convert FILE --dtype f16|i8|f32 --out FILE [--model DIR]",
    args: "FILE",
    description:
      "Re-encode a bundle's kv as F32, F16 or I8 (per-(slot, head) scales). The manifest is kept, dtype and checksum updated. Pass --model to verify the base too.",
    options: {
      dtype: {
        type: "string",
        valueName: "f16|i8|f32",
        description: "Stored dtype of the output (required)",
      },
      out: {
        type: "string",
        short: "o",
        valueName: "FILE",
        description: "Output bundle path (required)",
      },
      model: MODEL_OPT,
    },
    run: convert,
  },
  "export-peft": {
    usage: "deno task bundle export-peft FILE --model DIR --out DIR",
    args: "FILE",
    description:
      "Write a verified bundle as a PEFT prefix-tuning adapter folder (adapter_config.json + adapter_model.safetensors) that PeftModel.from_pretrained loads.",
    options: {
      model: MODEL_OPT,
      out: { type: "string", short: "o", valueName: "DIR", description: "Adapter folder to write" },
    },
    run: exportPeftCmd,
  },
  "import-peft": {
    usage:
      "deno task bundle import-peft DIR --model DIR --out FILE [--task NAME] [--dtype f16|i8|f32]",
    args: "DIR",
    description:
      "Turn a PEFT prefix-tuning adapter folder (peft_type PREFIX_TUNING, CAUSAL_LM) into a bundle for the given base model.",
    options: {
      model: MODEL_OPT,
      out: { type: "string", short: "o", valueName: "FILE", description: "Bundle path to write" },
      task: { type: "string", valueName: "NAME", description: "Task name (default: folder name)" },
      dtype: { type: "string", valueName: "f16|i8|f32", description: "Stored dtype (default f16)" },
    },
    run: importPeftCmd,
  },
  push: {
    usage: "deno task bundle push FILE --store STORE [--task NAME] [--model DIR]",
    args: "FILE",
    description:
      "Verify a bundle and upload it to a store as <task>.prefix.zip: a folder, or s3://BUCKET/PREFIX (AWS_* variables, as deno task serve reads them). Replicas serving that store pick it up within their --revalidate-s.",
    options: {
      store: STORE_OPT,
      task: {
        type: "string",
        valueName: "NAME",
        description: "Task name in the store (default: the bundle's manifest task)",
      },
      model: MODEL_OPT,
    },
    run: push,
  },
  pull: {
    usage: "deno task bundle pull TASK --store STORE --out FILE [--model DIR]",
    args: "TASK",
    description:
      "Download a task's bundle from a store (a folder, s3://BUCKET/PREFIX or an http(s) base URL), verify it and write it to a file.",
    options: {
      store: STORE_OPT,
      out: { type: "string", short: "o", valueName: "FILE", description: "Bundle path to write" },
      model: MODEL_OPT,
    },
    run: pull,
  },
  ls: {
    usage: "deno task bundle ls STORE",
    args: "STORE",
    description:
      "List the tasks in a store (a folder or s3://BUCKET/PREFIX; an http(s) base URL cannot list).",
    options: {},
    run: ls,
  },
};

type Values = Record<string, string | boolean | undefined>;
type Run = (target: string, v: Values, io: CliIo) => Promise<void>;

const TOP_HELP = `Usage: deno task bundle <command> [options]

Inspect, convert and exchange prefix bundles (*.prefix.zip, docs/bundle-format.md).

Commands:
  inspect FILE        Verify a bundle and print its manifest (table or --json)
  convert FILE        Re-encode kv as f32, f16 or i8
  export-peft FILE    Write a PEFT prefix-tuning adapter folder
  import-peft DIR     Make a bundle from a PEFT prefix-tuning adapter folder
  push FILE           Verify a bundle and upload it to a store (folder or s3://)
  pull TASK           Download a task's bundle from a store and verify it
  ls STORE            List the tasks in a store

Run "deno task bundle <command> --help" for a command's options.`;

/**
 * Run the CLI.
 *
 * @param args command-line arguments (after `deno task bundle`)
 * @param io where to print
 * @returns the exit code: 0 ok, 1 refused, 2 usage error
 */
export async function main(args: string[], io: CliIo = defaultIo()): Promise<number> {
  const [cmd, ...rest] = args;
  if (!cmd || cmd === "--help" || cmd === "-h" || cmd === "help") {
    (cmd ? io.out : io.err)(TOP_HELP);
    return cmd ? EXIT.ok : EXIT.usage;
  }
  if (cmd === "--version") {
    io.out(`prefix-edge ${VERSION}`);
    return EXIT.ok;
  }
  const spec = SPECS[cmd];
  if (!spec) {
    io.err(`error [INVALID_INPUT]: Cannot run "${cmd}": no such command\n\n${TOP_HELP}`);
    return EXIT.usage;
  }
  try {
    const parsed = parseCliArgs(spec, rest, 1, spec.args, io.out);
    if (!parsed) return EXIT.ok;
    await spec.run(parsed.positionals[0], parsed.values as Values, io);
    return EXIT.ok;
  } catch (e) {
    const { code, line } = cliFailure(e);
    io.err(code === EXIT.usage ? `${line}\n\n${formatHelp(spec)}` : line);
    return code;
  }
}

function defaultIo(): CliIo {
  return { out: (s) => console.log(s), err: (s) => console.error(s) };
}

function requireOpt(v: Values, name: string, cmd: string): string {
  const x = v[name];
  if (typeof x !== "string" || x === "") {
    throw new UsageError(`Cannot run ${cmd}: it needs --${name}`);
  }
  return x;
}

function parseDtype(
  s: string | boolean | undefined,
  cmd: string,
  fallback?: BundleDtype,
): BundleDtype {
  if (s === undefined && fallback) return fallback;
  if (s === undefined) throw new UsageError(`Cannot run ${cmd}: it needs --dtype (f16, i8 or f32)`);
  const d = String(s).toUpperCase() as BundleDtype;
  if (!BUNDLE_DTYPES.includes(d)) {
    throw new UsageError(
      `Cannot parse --dtype: it must be f16, i8 or f32, got ${JSON.stringify(s ?? "")}`,
    );
  }
  return d;
}

/**
 * Write an output file, turning the usual mistakes (`--out` names a folder,
 * or a file in a folder that does not exist) into one-line errors.
 */
async function writeOutput(path: string, bytes: Uint8Array): Promise<void> {
  try {
    await Deno.writeFile(path, bytes);
  } catch (e) {
    if (e instanceof Deno.errors.IsADirectory) {
      throw new PrefixEdgeError(
        "INVALID_INPUT",
        `Cannot write ${path}: it is a folder; --out takes a file path such as ${
          join(path, "task.prefix.zip")
        }`,
        { cause: e },
      );
    }
    if (e instanceof Deno.errors.NotFound) {
      throw new PrefixEdgeError(
        "FILE_NOT_FOUND",
        `Cannot write ${path}: the folder ${dirname(path)} does not exist`,
        { cause: e },
      );
    }
    if (e instanceof Deno.errors.PermissionDenied) {
      throw new PrefixEdgeError("INVALID_INPUT", `Cannot write ${path}: permission denied`, {
        cause: e,
      });
    }
    throw e;
  }
}

async function modelFrom(v: Values): Promise<LoadedModel | null> {
  return typeof v.model === "string" ? await loadModel(v.model) : null;
}

async function inspect(file: string, v: Values, io: CliIo): Promise<void> {
  const model = await modelFrom(v);
  const bytes = (await Deno.stat(file).catch(() => null))?.size;
  const bundle = await PrefixBundle.load(file, { model });
  const m = bundle.manifest;
  const kv = bundle.prefix.kv;
  let min = Infinity, max = -Infinity, sumAbs = 0;
  for (const x of kv) {
    min = Math.min(min, x);
    max = Math.max(max, x);
    sumAbs += Math.abs(x);
  }
  const stats = { min, max, meanAbs: kv.length ? sumAbs / kv.length : 0 };
  const verified = {
    file: true,
    base: bundle.baseVerified,
    ...(model ? { model: model.paths.dir } : {}),
  };
  if (v.json) {
    io.out(JSON.stringify({ file, bytes, verified, kvStats: stats, manifest: m }, null, 2));
    return;
  }
  const S = 2 * m.numLayers * m.numKvHeads * m.headDim;
  const a = m.base.architecture;
  const rows: [string, string][] = [
    ["file", `${file}${bytes !== undefined ? ` (${bytes} bytes)` : ""}`],
    ["format", `${m.format} v${m.formatVersion}`],
    ["task", m.task],
    ["created", m.createdAt],
    ["prefix", `P=${m.prefixLen} L=${m.numLayers} H=${m.numKvHeads} hd=${m.headDim} (S=${S})`],
    [
      "dtype",
      `${m.dtype} (${m.prefixLen * S} values${
        bytes ? `, ${(bytes / (m.prefixLen * S)).toFixed(3)} bundle bytes/value` : ""
      })`,
    ],
    ["layout", `${m.layout}, positions ${m.positions}`],
    [
      "method",
      `${m.method.reparam}${m.method.gate ? " + gate" : ""}${
        m.method.midDim ? `, midDim ${m.method.midDim}` : ""
      }`,
    ],
  ];
  if (m.method.gates) rows.push(["gates", m.method.gates.map((g) => g.toFixed(3)).join(" ")]);
  rows.push(
    [
      "base",
      `${a.family} L=${a.numLayers} heads=${a.numHeads} kv=${a.numKvHeads} hd=${a.headDim} d=${a.hiddenSize} vocab=${a.vocabSize} ctx=${a.maxPositions}${
        m.base.name ? ` (${m.base.name})` : ""
      }`,
    ],
    ...[m.base.fingerprint, ...(m.base.otherFingerprints ?? [])].map((f, i): [string, string] => [
      i === 0 ? "fingerprint" : "",
      `${f.kind} ${f.sha256}`,
    ]),
    ["tokenizer", m.tokenizerFingerprint ?? "none"],
    [
      "training",
      Object.entries(m.training).map(([k, x]) => `${k}=${JSON.stringify(x)}`).join(" ") || "-",
    ],
    ["sha256", `${m.sha256} (matches)`],
    [
      "kv stats",
      `min ${stats.min.toPrecision(4)} max ${stats.max.toPrecision(4)} mean|x| ${
        stats.meanAbs.toPrecision(4)
      }`,
    ],
    [
      "verified",
      bundle.baseVerified
        ? `file and base model (${model!.paths.dir})`
        : "file only; the base model was NOT verified (pass --model DIR)",
    ],
  );
  const w = Math.max(...rows.map(([k]) => k.length)) + 2;
  for (const [k, x] of rows) io.out(`${k.padEnd(w)}${x}`);
}

async function convert(file: string, v: Values, io: CliIo): Promise<void> {
  const dtype = parseDtype(v.dtype, "convert");
  const out = requireOpt(v, "out", "convert");
  const model = await modelFrom(v);
  const bundle = await PrefixBundle.load(file, { model });
  const bytes = await bundle.toBytes({ dtype });
  await writeOutput(out, bytes);
  io.out(
    `wrote ${out}: ${bundle.manifest.dtype} -> ${dtype}, ${bytes.byteLength} bytes${
      model ? "" : " (base model not verified: pass --model DIR)"
    }`,
  );
}

async function exportPeftCmd(file: string, v: Values, io: CliIo): Promise<void> {
  const out = requireOpt(v, "out", "export-peft");
  const model = await loadModel(requireOpt(v, "model", "export-peft"));
  const bundle = await PrefixBundle.load(file, { model });
  const cfg = await exportPeft(bundle, out);
  io.out(
    `wrote ${
      join(out, "adapter_config.json")
    } and adapter_model.safetensors (prompt_embeddings [${cfg.num_virtual_tokens}, ${
      2 * cfg.num_layers * cfg.token_dim
    }] F32)`,
  );
}

async function importPeftCmd(dir: string, v: Values, io: CliIo): Promise<void> {
  const out = requireOpt(v, "out", "import-peft");
  const dtype = parseDtype(v.dtype, "import-peft", "F16");
  const model = await loadModel(requireOpt(v, "model", "import-peft"));
  const bundle = await importPeft(dir, {
    model,
    task: typeof v.task === "string" ? v.task : undefined,
  });
  const bytes = await bundle.toBytes({ dtype });
  await writeOutput(out, bytes);
  io.out(
    `wrote ${out}: task "${bundle.manifest.task}", P=${bundle.prefix.prefixLen}, ${dtype}, ${bytes.byteLength} bytes`,
  );
}

if (import.meta.main) Deno.exit(await main(Deno.args));

async function push(file: string, v: Values, io: CliIo): Promise<void> {
  const store = openBundleStore(requireOpt(v, "store", "push"));
  const model = await modelFrom(v);
  const bundle = await PrefixBundle.load(file, { model });
  const task = typeof v.task === "string" ? v.task : bundle.manifest.task;
  validateTaskName(task);
  if (!store.writable) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      `Cannot push to ${store.location}: it is read-only (a folder or s3:// store takes uploads)`,
    );
  }
  const bytes = await Deno.readFile(file);
  await store.write(task, bytes);
  io.out(`pushed ${file} as task '${task}' to ${store.location} (${bytes.length} bytes)`);
}

async function pull(task: string, v: Values, io: CliIo): Promise<void> {
  validateTaskName(task);
  const store = openBundleStore(requireOpt(v, "store", "pull"));
  const out = requireOpt(v, "out", "pull");
  const bytes = await store.read(task);
  if (!bytes) {
    throw new PrefixEdgeError(
      "UNKNOWN_TASK",
      `Cannot pull '${task}': ${store.location} has no such task`,
    );
  }
  const model = await modelFrom(v);
  // Verified before it is written: a tampered or truncated object never lands as a file.
  await PrefixBundle.fromBytes(bytes, { model, source: `${store.location}/${task}.prefix.zip` });
  await writeOutput(out, bytes);
  io.out(
    `pulled task '${task}' from ${store.location} to ${out} (${bytes.length} bytes, verified${
      model ? " against the model" : ""
    })`,
  );
}

async function ls(spec: string, _v: Values, io: CliIo): Promise<void> {
  const store = openBundleStore(spec);
  const tasks = await store.list();
  if (tasks === null) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      `Cannot list ${store.location}: an http(s) store cannot list its tasks (a folder or s3:// store can)`,
    );
  }
  for (const t of [...tasks].sort()) io.out(t);
}
