/**
 * The prepared GPU run's driver (bench/gpu/run.sh installs Deno and the Vulkan loader, then
 * calls it): prints the adapter, times training steps with each kernel set (and with f16
 * matmuls where the adapter offers shader-f16) on GPT-2 small and medium shapes and on
 * stories260K, times the same steps in PyTorch with CUDA when Python with torch is there,
 * runs the oracle tests on this adapter with each kernel set (and once more with the subgroup
 * reductions, PREFIX_EDGE_SUBGROUPS=1, where the device has `subgroups`), and writes one JSON
 * file.
 *
 * Usage: deno run -A bench/gpu/gpu_run.ts [--out bench/gpu/results.json] [--steps 5]
 *        [--models gpt2-small,gpt2-medium,stories260k] [--torch-script PATH] [--dry-run]
 *
 * --dry-run: tiny shapes (gpt2-tiny fixture and stories260K, B=1, T=8, one timed step) and the
 * kernel-set oracle tests only, to check the run end to end on any adapter (e.g. llvmpipe).
 */
import { parseArgs } from "node:util";
import { adapterFacts, GpuContext, type KernelSetName } from "../../src/gpu/mod.ts";
import { type LoadedModel, loadModel } from "../../src/model/mod.ts";
import { PrefixModule } from "../../src/prefix/mod.ts";
import { PrefixTrainer } from "../../src/train/mod.ts";
import { randomGpt2 } from "../../tests/gpu/_random_gpt2.ts";
import { GPT2_TINY, ROOT, STORIES } from "../../tests/_fixtures.ts";
import { printHelpIfAsked } from "../_help.ts";

printHelpIfAsked(import.meta.url);

const { values } = parseArgs({
  args: Deno.args,
  options: {
    out: { type: "string", default: `${ROOT}bench/gpu/results.json` },
    steps: { type: "string", default: "5" },
    models: { type: "string", default: "gpt2-small,gpt2-medium,stories260k" },
    "torch-script": { type: "string" },
    "dry-run": { type: "boolean", default: false },
    help: { type: "boolean", short: "h" },
  },
});
const dry = values["dry-run"]!;
const steps = dry ? 1 : Number(values.steps);
if (!Number.isInteger(steps) || steps < 1) {
  console.error(`Cannot run: --steps must be a positive integer, got ${values.steps}`);
  Deno.exit(2);
}
const SHAPE = dry ? { B: 1, T: 8, P: 10, mid: 512 } : { B: 8, T: 128, P: 10, mid: 512 }; // residual reparameterization + gate
const MODELS: Record<string, () => Promise<LoadedModel>> = {
  "gpt2-tiny": () => loadModel(`${GPT2_TINY}/model`),
  "stories260k": () => loadModel(STORIES),
  "gpt2-small": () =>
    randomGpt2({ layers: 12, embd: 768, heads: 12, vocab: 50257, positions: 1024, seed: 1 }),
  "gpt2-medium": () =>
    randomGpt2({ layers: 24, embd: 1024, heads: 16, vocab: 50257, positions: 1024, seed: 1 }),
};
const models = dry ? ["gpt2-tiny", "stories260k"] : values.models!.split(",");
for (const m of models) {
  if (!MODELS[m]) {
    console.error(`Cannot run: unknown model ${m}, expected one of ${Object.keys(MODELS)}`);
    Deno.exit(2);
  }
}

const log = (s: string) => console.log(s);
const t0 = performance.now();

// 1. The adapter.
const facts = await adapterFacts();
const auto = (await GpuContext.create()).kernelSet;
log(`adapter: ${JSON.stringify(facts)}`);
log(`kernel set chosen for it: ${auto.name} (${auto.reason})`);
const offersF16 = facts.features.includes("shader-f16");
const offersSubgroups = facts.features.includes("subgroups");
log(
  `subgroups: ${offersSubgroups ? "offered" : "not offered"} (sizes ${
    facts.subgroupMinSize ?? "?"
  } to ${facts.subgroupMaxSize ?? "?"} lanes)`,
);

// 2. WebGPU training steps per model and kernel set.
interface WebGpuResult {
  model: string;
  kernels: KernelSetName;
  f16: boolean;
  subgroups: boolean;
  setupS: number;
  stepMs: number[];
  tokensPerSec: number;
  error?: string;
}
interface Config {
  kernels: KernelSetName;
  f16: boolean;
  subgroups: boolean;
}
const configs: Config[] = [
  { kernels: "software", f16: false, subgroups: false },
  { kernels: "hardware", f16: false, subgroups: false },
  ...(offersF16 ? [{ kernels: "hardware" as const, f16: true, subgroups: false }] : []),
  ...(offersSubgroups ? [{ kernels: "hardware" as const, f16: false, subgroups: true }] : []),
];
const configName = (c: Config) => `${c.kernels}${c.f16 ? "+f16" : ""}${c.subgroups ? "+sg" : ""}`;
function batchFor(V: number, b: number, t: number) {
  const inputIds = Array.from(
    { length: b },
    (_, r) => Array.from({ length: t }, (_, i) => (r * 7919 + i * 104729) % V),
  );
  return { inputIds, labels: inputIds.map((row) => row.map((id, i) => (i === 0 ? -100 : id))) };
}
async function timeSteps(name: string, model: LoadedModel, c: Config) {
  const { kernels, f16, subgroups } = c;
  Deno.env.set("PREFIX_EDGE_F16", f16 ? "1" : "0");
  Deno.env.set("PREFIX_EDGE_SUBGROUPS", subgroups ? "1" : "0");
  const pm = PrefixModule.init(model.config, {
    prefixLen: SHAPE.P,
    reparam: "residual",
    gate: true,
    midDim: SHAPE.mid,
    seed: 1,
  });
  const s0 = performance.now();
  const trainer = await PrefixTrainer.create(model, pm, {
    maxBatch: SHAPE.B,
    maxLen: SHAPE.T,
    kernels,
  });
  const setupS = (performance.now() - s0) / 1000;
  try {
    const ran = trainer.context.kernelSet;
    if (ran.f16 !== f16 || ran.subgroups !== subgroups) {
      throw new Error(
        `asked for ${configName(c)}, the trainer's kernel set is ${JSON.stringify(ran)}`,
      );
    }
    const batch = batchFor(model.config.vocabSize, SHAPE.B, SHAPE.T);
    await trainer.accumulate(batch); // warm-up: compiles every pipeline
    await trainer.step({ lr: 1e-3 });
    const stepMs: number[] = [];
    for (let i = 0; i < steps; i++) {
      const t = performance.now();
      await trainer.accumulate(batch);
      await trainer.step({ lr: 1e-3 });
      stepMs.push(performance.now() - t);
    }
    const med = [...stepMs].sort((a, b) => a - b)[Math.floor(stepMs.length / 2)];
    const r: WebGpuResult = {
      model: name,
      kernels,
      f16,
      subgroups,
      setupS,
      stepMs,
      tokensPerSec: (SHAPE.B * SHAPE.T) / (med / 1000),
    };
    log(`webgpu ${name} ${configName(c)}: ${r.tokensPerSec.toFixed(0)} tokens/s`);
    return r;
  } finally {
    trainer.destroy();
  }
}
const webgpu: WebGpuResult[] = [];
for (const name of models) {
  const model = await MODELS[name]();
  for (const c of configs) {
    try {
      webgpu.push(await timeSteps(name, model, c));
    } catch (e) {
      log(`webgpu ${name} ${configName(c)}: failed: ${e}`);
      webgpu.push({
        model: name,
        ...c,
        setupS: 0,
        stepMs: [],
        tokensPerSec: 0,
        error: String(e),
      });
    }
  }
}
Deno.env.delete("PREFIX_EDGE_F16");
Deno.env.delete("PREFIX_EDGE_SUBGROUPS");

// 3. PyTorch eager on CUDA, same shapes, when Python with torch is there.
async function sh(cmd: string, args: string[], env: Record<string, string> = {}) {
  try {
    const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" })
      .output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } catch (e) {
    return { code: -1, stdout: "", stderr: String(e) };
  }
}
const torchScript = values["torch-script"] ??
  [`${ROOT}../shared/reference/bench_torch_step.py`, `${ROOT}shared/reference/bench_torch_step.py`]
    .find((p) => {
      try {
        return Deno.statSync(p).isFile;
      } catch {
        return false;
      }
    });
const torch: Record<string, unknown>[] = [];
const probe = await sh("python3", ["-c", "import torch; print(torch.cuda.is_available())"]);
const torchStatus = !torchScript
  ? "skipped: bench_torch_step.py not found (pass --torch-script)"
  : probe.code !== 0
  ? "skipped: no Python with torch"
  : probe.stdout.trim() !== "True"
  ? "skipped: torch has no CUDA device"
  : "ran";
log(`pytorch: ${torchStatus}`);
if (torchStatus === "ran") {
  for (const name of models) {
    const r = await sh("python3", [
      torchScript!,
      "--model",
      name,
      "--device",
      "cuda",
      "--batch",
      String(SHAPE.B),
      "--len",
      String(SHAPE.T),
      "--prefix",
      String(SHAPE.P),
      "--reparam",
      "residual",
      "--mid",
      String(SHAPE.mid),
      "--steps",
      String(steps + 1),
    ]);
    const line = r.stdout.trim().split("\n").pop() ?? "";
    try {
      torch.push({ model: name, ...JSON.parse(line) });
    } catch {
      torch.push({ model: name, error: (r.stderr || r.stdout).slice(-2000) });
    }
    log(`pytorch ${name}: ${line || r.stderr.slice(-300)}`);
  }
}

// 4. The oracle and kernel tests on this adapter (they run each kernel set themselves), then
// once more with the subgroup reductions (PREFIX_EDGE_SUBGROUPS=1) where the device has them.
const testFiles = [
  "tests/gpu/kernel_set_test.ts",
  "tests/gpu/kernels_test.ts",
  "tests/gpu/matmul_f16_test.ts",
  "tests/gpu/subgroup_kernels_test.ts",
  "tests/train/oracle_grads_test.ts",
  "tests/train/trainer_backends_test.ts",
];
async function runTests(label: string, env: Record<string, string>) {
  const tt = performance.now();
  const tests = await sh(Deno.execPath(), ["test", "-A", ...testFiles.map((f) => ROOT + f)], {
    NO_COLOR: "1",
    ...env,
  });
  const summary = tests.stdout.match(/(ok|FAILED) \| (\d+) passed.*?\| (\d+) failed/);
  const r = {
    files: testFiles,
    env,
    ok: tests.code === 0,
    passed: Number(summary?.[2] ?? 0),
    failed: Number(summary?.[3] ?? 0),
    seconds: (performance.now() - tt) / 1000,
    failures: tests.code === 0
      ? []
      : tests.stdout.split("\n").filter((l) => /FAILED|error/.test(l)),
  };
  log(`${label}: ${r.ok ? "ok" : "FAILED"}, ${r.passed} passed, ${r.failed} failed`);
  return r;
}
const oracle = await runTests("tests", { PREFIX_EDGE_SUBGROUPS: "0" });
const subgroups = {
  offered: offersSubgroups,
  minSize: facts.subgroupMinSize ?? null,
  maxSize: facts.subgroupMaxSize ?? null,
  tests: offersSubgroups
    ? await runTests("tests with subgroup reductions", { PREFIX_EDGE_SUBGROUPS: "1" })
    : "skipped: the device has no subgroups feature",
};
if (!offersSubgroups) log(`tests with subgroup reductions: ${subgroups.tests}`);

// 5. One JSON file, and a table.
const ratios = models.map((name) => {
  const t = torch.find((r) => r.model === name && typeof r.tokens_per_s === "number");
  const best = Math.max(0, ...webgpu.filter((r) => r.model === name).map((r) => r.tokensPerSec));
  return {
    model: name,
    bestWebGpuTokensPerSec: best,
    torchTokensPerSec: t ? Number(t.tokens_per_s) : null,
    ratio: t ? best / Number(t.tokens_per_s) : null,
  };
});
const result = {
  dryRun: dry,
  date: new Date().toISOString(),
  deno: Deno.version,
  adapter: facts,
  autoKernelSet: auto,
  shape: { ...SHAPE, reparam: "residual", gate: true, steps },
  webgpu,
  torch: { status: torchStatus, results: torch },
  ratios,
  tests: oracle,
  subgroups,
  seconds: (performance.now() - t0) / 1000,
};
await Deno.writeTextFile(values.out!, JSON.stringify(result, null, 2) + "\n");
log(`\n| model | kernels | tokens/s | torch cuda tokens/s |`);
log(`| --- | --- | --- | --- |`);
for (const r of webgpu) {
  const t = ratios.find((x) => x.model === r.model)?.torchTokensPerSec;
  log(
    `| ${r.model} | ${configName(r)} | ${r.error ? "failed" : r.tokensPerSec.toFixed(0)} | ${
      t?.toFixed(0) ?? "-"
    } |`,
  );
}
log(`\nwrote ${values.out} (${result.seconds.toFixed(0)} s)`);
if (!oracle.ok || (typeof subgroups.tests === "object" && !subgroups.tests.ok)) Deno.exitCode = 1;
