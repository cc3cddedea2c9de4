/**
 * Our engine against transformers.js, the library users pick for ONNX decoding in JavaScript, on
 * the same exported model folder: greedy decode tokens/s at batch 1 and 4, f32 and q4, in
 * alternating runs (each run its own process: ours in Deno, transformers.js in Node as its users
 * run it), both on onnxruntime-node's CPU provider with the same intra-op thread count.
 *
 * The model is a GPT-2-small-shaped checkpoint with random weights (12 x 768, vocabulary 50257;
 * tests/gpu/_random_gpt2.ts), or with `--model DIR` that folder's checkpoint (e.g.
 * models/stories260K, a real one), exported by `exportOnnx` once per dtype, each into its own
 * folder as `onnx/model.onnx` (transformers.js loads that file for its "fp32" dtype, so both
 * engines read the very same graph). The prompt is 8 token ids per row, or with `--prompt TEXT`
 * that text encoded by the model's tokenizer; every run decodes exactly `--steps` new tokens (no
 * early stop), after a 4-token warm-up.
 *
 * Our engine checks drafts from each row's own context while a row decodes alone (prompt lookup,
 * `--draft-tokens`, default the engine's 4; 0 turns it off). A random model's greedy text loops
 * on one token, which every draft then matches: its batch-1 ratio with drafts on says little, so
 * measure drafts on a real model (`--model models/stories260K --prompt "Once upon a time"`).
 *
 * transformers.js is installed on first use with npm, install scripts off (enough on CPU), into
 * `--peer-dir` (default `$TMPDIR/prefix-edge-peer`); it needs Node and npm on the PATH.
 *
 * Usage: deno run -A bench/peer_decode_bench.ts [--steps 64] [--pairs 3] [--batches 1,4]
 *        [--dtypes f32,q4] [--threads N] [--peer-dir DIR] [--quick] [--model DIR] [--prompt TEXT]
 *        [--draft-tokens N]
 */
import { parseArgs } from "node:util";
import { tmpdir } from "node:os";
import { type ExportDtype, exportOnnx } from "../src/onnx/mod.ts";
import { GPT2_SMALL, writeRandomGpt2 } from "../tests/gpu/_random_gpt2.ts";
import { GPT2_TOKENIZER } from "../tests/_fixtures.ts";
import { loadModel } from "../src/model/mod.ts";
import { printHelpIfAsked } from "./_help.ts";
import { engineDecode, median, runCommand } from "./_measure.ts";

printHelpIfAsked(import.meta.url);
const values = parseArgs({
  args: Deno.args,
  options: {
    steps: { type: "string", default: "64" },
    pairs: { type: "string", default: "3" },
    batches: { type: "string", default: "1,4" },
    dtypes: { type: "string", default: "f32,q4" },
    threads: { type: "string", default: String(navigator.hardwareConcurrency) },
    "peer-dir": { type: "string", default: `${tmpdir()}/prefix-edge-peer` },
    quick: { type: "boolean", default: false },
    model: { type: "string" },
    prompt: { type: "string" },
    "draft-tokens": { type: "string" },
    child: { type: "string" }, // internal: "<folder>:<B>"
  },
}).values;
const STEPS = Number(values.steps), PAIRS = Number(values.pairs), THREADS = Number(values.threads);
const PROMPT_LEN = 8;
const TRANSFORMERS_JS = "@huggingface/transformers@4.3.2";

const DRAFT_TOKENS = values["draft-tokens"] === undefined
  ? undefined
  : Number(values["draft-tokens"]);

let promptIds: number[] | undefined;

/** The prompt rows both engines decode from: `--prompt` encoded by the model's tokenizer, or ids. */
async function promptRows(B: number, dir: string): Promise<number[][]> {
  if (values.prompt !== undefined) {
    // Every folder holds the same tokenizer: encode once, not once per run.
    promptIds ??= (await loadModel(dir)).tokenizer!.encode(values.prompt);
    return Array.from({ length: B }, () => promptIds!);
  }
  return Array.from(
    { length: B },
    (_, b) => Array.from({ length: PROMPT_LEN }, (_, t) => 100 + t * 7 + b),
  );
}

/** Node script: transformers.js decodes STEPS tokens greedily; prints one JSON line. */
const PEER_SCRIPT = `
import { AutoModelForCausalLM, env, Tensor } from "@huggingface/transformers";
const [dir, B, steps, threads, rowsJson] = process.argv.slice(2);
env.allowRemoteModels = false;
env.localModelPath = dir.replace(/[^/]+\\/?$/, "");
const name = dir.replace(/\\/$/, "").split("/").pop();
const model = await AutoModelForCausalLM.from_pretrained(name, {
  dtype: "fp32", device: "cpu", local_files_only: true,
  session_options: { intraOpNumThreads: Number(threads) },
});
const rows = JSON.parse(rowsJson);
const T = rows[0].length, n = Number(steps);
const input_ids = new Tensor("int64", BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, T]);
const attention_mask = new Tensor("int64", new BigInt64Array(rows.length * T).fill(1n), [rows.length, T]);
const run = (k) => model.generate({ input_ids, attention_mask, max_new_tokens: k, min_new_tokens: k, do_sample: false });
await run(4);
const t = performance.now();
const out = await run(n);
const s = (performance.now() - t) / 1000;
console.log(JSON.stringify({ tokensPerSec: rows.length * n / s, first: Array.from(out.data.slice(T, T + 4), Number) }));
`;

/** In a child process: our engine decodes STEPS tokens greedily per row; prints one JSON line. */
async function child(spec: string) {
  const [dir, b] = spec.split(":");
  const { tokensPerSec, first, stats } = await engineDecode(
    dir,
    await promptRows(Number(b), dir),
    STEPS,
    THREADS,
    DRAFT_TOKENS,
  );
  console.log(JSON.stringify({
    tokensPerSec,
    first: first.slice(0, 4),
    accepted: stats.acceptedDraftTokens,
  }));
}

async function ensurePeer(dir: string): Promise<void> {
  const pkg = `${dir}/node_modules/@huggingface/transformers/package.json`;
  if (!(await Deno.stat(pkg).then(() => true, () => false))) {
    console.error(`installing ${TRANSFORMERS_JS} into ${dir} (npm, install scripts off)`);
    await Deno.mkdir(dir, { recursive: true });
    const r = await runCommand("npm", [
      "install",
      "--ignore-scripts",
      "--no-audit",
      "--no-fund",
      "--prefix",
      dir,
      TRANSFORMERS_JS,
    ]);
    if (!r.ok) throw new Error(`npm could not install ${TRANSFORMERS_JS}: ${r.err}`);
  }
  await Deno.writeTextFile(`${dir}/decode.mjs`, PEER_SCRIPT);
}

function lastJson(
  text: string,
): { tokensPerSec: number; first: number[]; accepted?: number } | null {
  try {
    return JSON.parse(text.trim().split("\n").at(-1) ?? "");
  } catch {
    return null;
  }
}

async function parent() {
  const peerDir = values["peer-dir"]!;
  await ensurePeer(peerDir);
  const version = JSON.parse(
    await Deno.readTextFile(`${peerDir}/node_modules/@huggingface/transformers/package.json`),
  ).version;
  const tmp = await Deno.makeTempDir({ prefix: "peer-decode-" });
  try {
    const shape = values.quick
      ? { layers: 2, embd: 128, heads: 4, vocab: 50257, positions: 128 }
      : GPT2_SMALL;
    const dtypes = values.dtypes!.split(",") as ExportDtype[];
    const batches = values.batches!.split(",").map(Number);
    for (const dtype of dtypes) {
      const dir = `${tmp}/${dtype}`;
      if (values.model) {
        await Deno.mkdir(dir, { recursive: true });
        for (const f of ["config.json", "model.safetensors", "tokenizer.json"]) {
          await Deno.copyFile(`${values.model}/${f}`, `${dir}/${f}`);
        }
      } else {
        await writeRandomGpt2(dir, shape);
        for (const f of ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]) {
          await Deno.copyFile(`${GPT2_TOKENIZER}/${f}`, `${dir}/${f}`);
        }
      }
      await exportOnnx(dir, { dtype, out: `${dir}/onnx/model.onnx` });
      console.error(`exported ${dtype} to ${dir}/onnx/model.onnx`);
    }
    type Cell = {
      ours: number[];
      peer: number[];
      ratios: number[];
      same: boolean;
      accepted: number[];
    };
    const cells = new Map<string, Cell>();
    for (let pair = 0; pair < PAIRS; pair++) {
      for (const dtype of dtypes) {
        for (const B of batches) {
          const dir = `${tmp}/${dtype}`;
          const ours = await runCommand(Deno.execPath(), [
            "run",
            "-A",
            new URL(import.meta.url).pathname,
            "--child",
            `${dir}:${B}`,
            "--steps",
            String(STEPS),
            "--threads",
            String(THREADS),
            ...(DRAFT_TOKENS === undefined ? [] : ["--draft-tokens", String(DRAFT_TOKENS)]),
            ...(values.prompt === undefined ? [] : ["--prompt", values.prompt]),
          ]);
          const peer = await runCommand("node", [
            `${peerDir}/decode.mjs`,
            dir,
            String(B),
            String(STEPS),
            String(THREADS),
            JSON.stringify(await promptRows(B, dir)),
          ]);
          const a = lastJson(ours.text), p = lastJson(peer.text);
          if (!a || !p) {
            throw new Error(
              `a run failed:\nours: ${ours.err.slice(-500)}\npeer: ${peer.err.slice(-500)}`,
            );
          }
          const key = `${dtype}:${B}`;
          const c = cells.get(key) ??
            { ours: [], peer: [], ratios: [], same: true, accepted: [] };
          c.accepted.push(a.accepted ?? 0);
          c.ours.push(a.tokensPerSec);
          c.peer.push(p.tokensPerSec);
          c.ratios.push(a.tokensPerSec / p.tokensPerSec);
          c.same &&= JSON.stringify(a.first) === JSON.stringify(p.first);
          cells.set(key, c);
          console.error(
            `pair ${pair + 1}: ${key} ours ${a.tokensPerSec.toFixed(1)}, transformers.js ${
              p.tokensPerSec.toFixed(1)
            } tokens/s`,
          );
        }
      }
    }
    console.log(
      `\nGreedy decoding, ${STEPS} new tokens after ${
        values.prompt === undefined
          ? `an ${PROMPT_LEN}-token prompt`
          : JSON.stringify(values.prompt)
      }, ${
        values.model
          ? values.model
          : values.quick
          ? "a 2-layer GPT-2 (--quick, random weights)"
          : "GPT-2-small shape (random weights)"
      }, our drafts ${
        DRAFT_TOKENS ?? "default"
      }, onnxruntime-node CPU with ${THREADS} intra-op threads on both; medians of ${PAIRS} alternating pairs; transformers.js ${version} in Node ${
        (await runCommand("node", ["--version"])).text.trim()
      }\n`,
    );
    console.log(
      "| graph | batch | ours (tokens/s) | transformers.js (tokens/s) | ours / theirs | same first tokens | our draft tokens accepted |",
    );
    console.log("| --- | ---: | ---: | ---: | ---: | --- | ---: |");
    for (const [key, c] of cells) {
      const [dtype, B] = key.split(":");
      console.log(
        `| ${dtype} | ${B} | ${median(c.ours).toFixed(1)} | ${median(c.peer).toFixed(1)} | ${
          median(c.ratios).toFixed(2)
        }x | ${c.same ? "yes" : "no"} | ${median(c.accepted)} of ${Number(B) * STEPS} |`,
      );
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

if (values.child) await child(values.child);
else await parent();
