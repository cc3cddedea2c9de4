/**
 * Our engine against transformers.js, the library users pick for ONNX decoding in JavaScript, on
 * the same exported model folder: greedy decode tokens/s at batch 1 and 4, f32 and q4, in
 * alternating runs (each run its own process: ours in Deno, transformers.js in Node as its users
 * run it), both on onnxruntime-node's CPU provider with the same intra-op thread count.
 *
 * The model is a GPT-2-small-shaped checkpoint with random weights (12 x 768, vocabulary 50257;
 * tests/gpu/_random_gpt2.ts), exported by `exportOnnx` once as f32 and once as q4, each into its
 * own folder as `onnx/model.onnx` (transformers.js loads that file for its "fp32" dtype, so
 * both engines read the very same graph). The prompt is 8 token ids per row; every run decodes
 * exactly `--steps` new tokens (no early stop), after a 4-token warm-up.
 *
 * transformers.js is installed on first use with npm, install scripts off (enough on CPU), into
 * `--peer-dir` (default `$TMPDIR/prefix-edge-peer`); it needs Node and npm on the PATH.
 *
 * Usage: deno run -A bench/peer_decode_bench.ts [--steps 64] [--pairs 3] [--batches 1,4]
 *        [--dtypes f32,q4] [--threads N] [--peer-dir DIR] [--quick]
 */
import { parseArgs } from "node:util";
import { tmpdir } from "node:os";
import { type ExportDtype, exportOnnx } from "../src/onnx/mod.ts";
import { GPT2_SMALL, writeRandomGpt2 } from "../tests/gpu/_random_gpt2.ts";
import { GPT2_TOKENIZER } from "../tests/_fixtures.ts";
import { printHelpIfAsked } from "./_help.ts";
import { engineDecode, runCommand } from "./_measure.ts";

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
    child: { type: "string" }, // internal: "<folder>:<B>"
  },
}).values;
const STEPS = Number(values.steps), PAIRS = Number(values.pairs), THREADS = Number(values.threads);
const PROMPT_LEN = 8;
const TRANSFORMERS_JS = "@huggingface/transformers@4.3.2";

/** The prompt rows both engines decode from. */
function promptRows(B: number): number[][] {
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
  const { tokensPerSec, first } = await engineDecode(dir, promptRows(Number(b)), STEPS, THREADS);
  console.log(JSON.stringify({ tokensPerSec, first: first.slice(0, 4) }));
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

function lastJson(text: string): { tokensPerSec: number; first: number[] } | null {
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
      await writeRandomGpt2(dir, shape);
      for (const f of ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]) {
        await Deno.copyFile(`${GPT2_TOKENIZER}/${f}`, `${dir}/${f}`);
      }
      await exportOnnx(dir, { dtype, out: `${dir}/onnx/model.onnx` });
      console.error(`exported ${dtype} to ${dir}/onnx/model.onnx`);
    }
    type Cell = { ours: number[]; peer: number[]; ratios: number[]; same: boolean };
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
          ]);
          const peer = await runCommand("node", [
            `${peerDir}/decode.mjs`,
            dir,
            String(B),
            String(STEPS),
            String(THREADS),
            JSON.stringify(promptRows(B)),
          ]);
          const a = lastJson(ours.text), p = lastJson(peer.text);
          if (!a || !p) {
            throw new Error(
              `a run failed:\nours: ${ours.err.slice(-500)}\npeer: ${peer.err.slice(-500)}`,
            );
          }
          const key = `${dtype}:${B}`;
          const c = cells.get(key) ?? { ours: [], peer: [], ratios: [], same: true };
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
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
    console.log(
      `\nGreedy decoding, ${STEPS} new tokens after an ${PROMPT_LEN}-token prompt, ${
        values.quick ? "a 2-layer GPT-2 (--quick)" : "GPT-2-small shape"
      } (random weights), onnxruntime-node CPU with ${THREADS} intra-op threads on both; medians of ${PAIRS} alternating pairs; transformers.js ${version} in Node ${
        (await runCommand("node", ["--version"])).text.trim()
      }\n`,
    );
    console.log(
      "| graph | batch | ours (tokens/s) | transformers.js (tokens/s) | ours / theirs | same first tokens |",
    );
    console.log("| --- | ---: | ---: | ---: | ---: | --- |");
    for (const [key, c] of cells) {
      const [dtype, B] = key.split(":");
      console.log(
        `| ${dtype} | ${B} | ${median(c.ours).toFixed(1)} | ${median(c.peer).toFixed(1)} | ${
          median(c.ratios).toFixed(2)
        }x | ${c.same ? "yes" : "no"} |`,
      );
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

if (values.child) await child(values.child);
else await parent();
