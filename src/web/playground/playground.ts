/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The playground page: pick the base model the tab runs (built in, a folder URL, or a folder
 * from disk), ask the server (or this tab) for a task's answer, train the main job in the tab
 * with the loss and gates drawn as it goes, and ship the bundle (download it, or upload it to
 * the server). `?model=URL` loads a model folder from a URL at start. Built by `deno task build:web` into `dist/web/playground.js`; `deno task
 * serve` serves it at `/`, and `dist/web/` works as static files too (then without a server).
 *
 * @module
 */
import {
  endOfOutputToken,
  type EvalRecord,
  formatTaskPrompt,
  gatesChartSvg,
  generationDevMetric,
  InferenceEngine,
  type LoadedExamples,
  type LoadedModel,
  loadModel,
  lossChartSvg,
  MAIN_JOB_FILES,
  MAIN_JOB_OPTIONS,
  type MetricsRecord,
  type ModelSource,
  parseExamples,
  type Prefix,
  PrefixBundle,
  PrefixEdgeError,
  type RunFiles,
  taskEosTokenIds,
  type TaskUsage,
  taskUsage,
  taskUsageOf,
  tokenizeDataset,
  train,
  type TrainingBackend,
  type TrainRecord,
} from "../mod.ts";
import { opfsRun, removeOpfsRun } from "../opfs_run.ts";

/** The main job's model and data, copied beside the page by the build. */
const ASSETS = new URL("./assets/", import.meta.url);
/** Held-out records shown before and after training. */
const SAMPLES = 3;
const query = new URLSearchParams(location.search);
/**
 * Held-out records generated at each evaluation (fewer than the CLI's: a tab is slower);
 * `?evalLimit=N` changes it.
 */
const EVAL_LIMIT = Number(query.get("evalLimit") ?? 40);
/** The task option of the prefix trained in this tab. */
const TAB_TASK = "@tab";
/** The task option of a bundle file loaded into this tab. */
const FILE_TASK = "@file";
/** The built-in base model. */
const BUILT_IN = {
  label: "stories260K (built in)",
  source: new URL(`${MAIN_JOB_FILES.model}/`, ASSETS),
};

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const show = (id: string, text: string, error = false) => {
  const el = $(id);
  el.textContent = text;
  el.classList.toggle("error", error);
};
const describe = (e: unknown) =>
  e instanceof PrefixEdgeError ? `${e.code}: ${e.message}` : String((e as Error)?.message ?? e);

/** The base model this tab runs: where it comes from, and its load (started on first use). */
let base: { label: string; source: ModelSource; model: Promise<LoadedModel> | null } = {
  ...BUILT_IN,
  model: null,
};
const baseModel = () => base.model ??= loadModel(base.source);
let engine: Promise<InferenceEngine> | null = null;
const tabEngine = async () =>
  await (engine ??= baseModel().then((m) =>
    InferenceEngine.create(m, { executionProvider: "wasm" })
  ));

/** A prefix this tab runs, with the layout its bundle records. */
interface TabPrefix {
  bytes: Uint8Array<ArrayBuffer>;
  prefix: Prefix;
  usage: TaskUsage;
}
/** The tab's prefixes by task option: the one trained here, and a bundle file loaded here. */
const tabPrefixes = new Map<string, TabPrefix>();
let run: RunFiles | null = null;
const busy = () => document.body.dataset.training === "running";

/** Add a task to the picker, or relabel it when it is there. */
function setTaskOption(value: string, label: string): void {
  const select = $<HTMLSelectElement>("task");
  const option = [...select.options].find((o) => o.value === value);
  if (option) option.text = label;
  else select.add(new Option(label, value));
}

function removeTaskOption(value: string): void {
  [...$<HTMLSelectElement>("task").options].find((o) => o.value === value)?.remove();
}

// ---------------------------------------------------------------------------------------------
// The base model.

/**
 * Switch the tab to another base model. The tab's prefixes belong to the old one (a bundle is
 * bound to its base's weights), so they go; the load's outcome (or its typed error) is shown.
 */
async function useBaseModel(label: string, source: ModelSource): Promise<void> {
  if (busy()) {
    show("modelStatus", "Stop the training run before switching models.", true);
    return;
  }
  const old = engine;
  engine = null;
  await old?.then((e) => e.dispose()).catch(() => {});
  base = { label, source, model: null };
  tabPrefixes.clear();
  removeTaskOption(TAB_TASK);
  removeTaskOption(FILE_TASK);
  setTraining(false);
  show("modelStatus", `Loading ${label}…`);
  try {
    const m = await baseModel();
    const c = m.config;
    show(
      "modelStatus",
      `${label}: ${c.modelType}, ${c.numLayers} layers, width ${c.hiddenSize}, vocabulary ${c.vocabSize}.`,
    );
  } catch (e) {
    base.model = null;
    show("modelStatus", `${label}: ${describe(e)}`, true);
  }
}

function showModelInputs(): void {
  const from = $<HTMLSelectElement>("modelFrom").value;
  $("modelUrlLabel").hidden = from !== "url";
  $("modelFolderLabel").hidden = from !== "folder";
}

async function loadChosenModel(): Promise<void> {
  const from = $<HTMLSelectElement>("modelFrom").value;
  if (from === "builtin") return await useBaseModel(BUILT_IN.label, BUILT_IN.source);
  if (from === "url") {
    const text = $<HTMLInputElement>("modelUrl").value.trim();
    if (!URL.canParse(text, location.href)) {
      return show("modelStatus", `Not a URL: "${text}"`, true);
    }
    // A folder URL: its files are read relative to it.
    const url = new URL(text.endsWith("/") ? text : `${text}/`, location.href);
    return await useBaseModel(url.href, url);
  }
  const files = [...($<HTMLInputElement>("modelFolder").files ?? [])];
  if (files.length === 0) {
    return show("modelStatus", "Choose the model folder's files first.", true);
  }
  // Picked files carry no folder: the ONNX graph (and its external data) goes back under onnx/,
  // where an export writes it. The weights are read from each File as needed.
  const path = (f: File) =>
    f.webkitRelativePath || (/\.onnx(\.data|_data)?$/.test(f.name) ? `onnx/${f.name}` : f.name);
  await useBaseModel(
    `${files.length} files (${files.map((f) => f.name).slice(0, 3).join(", ")}…)`,
    new Map(files.map((f) => [path(f), f] as const)),
  );
}

/** Load a bundle file into the tab, verified against the tab's base model. */
async function loadBundleFile(): Promise<void> {
  const file = $<HTMLInputElement>("bundleFile").files?.[0];
  if (!file) return;
  removeTaskOption(FILE_TASK);
  tabPrefixes.delete(FILE_TASK);
  try {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const bundle = await PrefixBundle.fromBytes(bytes, { model: await baseModel() });
    tabPrefixes.set(FILE_TASK, {
      bytes,
      prefix: bundle.prefix,
      usage: taskUsageOf(bundle.manifest),
    });
    setTaskOption(FILE_TASK, `${bundle.manifest.task} (file, in this tab)`);
    $<HTMLSelectElement>("task").value = FILE_TASK;
    show("answer", "");
  } catch (e) {
    show("answer", `${file.name}: ${describe(e)}`, true);
  }
}

// ---------------------------------------------------------------------------------------------
// The server, when the page came from `deno task serve`.

async function serverTasks(): Promise<string[] | null> {
  try {
    const health = await fetch("/healthz");
    if (!health.ok) return null;
    const list = await (await fetch("/v1/tasks")).json() as { data: { task: string }[] };
    return list.data.map((t) => t.task);
  } catch {
    return null;
  }
}

async function fillTasks(): Promise<void> {
  const tasks = await serverTasks();
  const select = $<HTMLSelectElement>("task");
  for (const t of tasks ?? []) select.add(new Option(t, t));
  if (tasks === null) {
    $<HTMLSelectElement>("runOn").value = "tab";
    $<HTMLSelectElement>("runOn").disabled = true;
    $<HTMLButtonElement>("upload").hidden = true;
    show("where", "Static page: everything runs in this tab.");
  }
}

// ---------------------------------------------------------------------------------------------
// Ask.

async function generate(): Promise<void> {
  const task = $<HTMLSelectElement>("task").value;
  const text = $<HTMLTextAreaElement>("prompt").value;
  const maxNewTokens = Number($<HTMLInputElement>("maxNewTokens").value);
  show("answer", "");
  const button = $<HTMLButtonElement>("generate");
  button.disabled = true;
  try {
    const inTab = tabPrefixes.get(task);
    if (inTab || task === "") {
      if ($<HTMLSelectElement>("runOn").value === "server" && !inTab) {
        await generateOnServer("base", text, maxNewTokens);
      } else {
        await generateInTab(inTab ?? null, text, maxNewTokens);
      }
    } else if ($<HTMLSelectElement>("runOn").value === "server") {
      await generateOnServer(task, text, maxNewTokens);
    } else {
      throw new PrefixEdgeError(
        "INVALID_INPUT",
        `Task '${task}' lives on the server: run it there, or load its bundle file into this tab`,
      );
    }
  } catch (e) {
    show("answer", describe(e), true);
  } finally {
    button.disabled = false;
  }
}

async function generateOnServer(task: string, prompt: string, maxNewTokens: number) {
  const res = await fetch(`/v1/tasks/${encodeURIComponent(task)}/generate`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ prompt, max_new_tokens: maxNewTokens, stream: true }),
  });
  if (!res.ok) {
    const body = await res.json().catch(() => null);
    throw new Error(body?.error?.message ?? `HTTP ${res.status}`);
  }
  // Server-sent events: `event: token` lines carry the text as it comes.
  const answer = $("answer");
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const kind = /^event: (.*)$/m.exec(event)?.[1];
      const data = /^data: (.*)$/m.exec(event)?.[1];
      if (!data) continue;
      const body = JSON.parse(data);
      if (kind === "token") answer.textContent += body.text;
      if (kind === "error") throw new Error(body.error?.message ?? "generation failed");
    }
  }
}

async function generateInTab(tabPrefix: TabPrefix | null, text: string, maxNewTokens: number) {
  const eng = await tabEngine();
  const usage = tabPrefix?.usage ?? mainJobUsage ?? {};
  const answer = $("answer");
  const stream = eng.generate({
    prompt: formatTaskPrompt(text, usage.prompt),
    prefix: tabPrefix?.prefix ?? null,
    maxNewTokens,
    eosTokenIds: taskEosTokenIds(usage.generation?.eosTokenIds, eng.config.eosTokenIds),
  });
  for await (const piece of stream) answer.textContent += piece.text;
}

// ---------------------------------------------------------------------------------------------
// Train the main job.

let mainJobUsage: TaskUsage | null = null;
let stopper: AbortController | null = null;

async function fetchText(rel: string): Promise<string> {
  const res = await fetch(new URL(rel, ASSETS));
  if (!res.ok) {
    throw new PrefixEdgeError("FILE_NOT_FOUND", `Cannot fetch ${rel}: HTTP ${res.status}`);
  }
  return await res.text();
}

async function mainJobData(m: LoadedModel) {
  const slots = await fetchText(MAIN_JOB_FILES.slots);
  const trainText = parseExamples(await fetchText(MAIN_JOB_FILES.train), "train.jsonl", { slots });
  const dev: LoadedExamples = parseExamples(await fetchText(MAIN_JOB_FILES.dev), "dev.jsonl", {
    slots,
  });
  const eosTokenId = (await endOfOutputToken(m)).id;
  const maxLen = MAIN_JOB_OPTIONS.maxLen!;
  const tokenizer = m.requireTokenizer();
  const trainSet = await tokenizeDataset(trainText, tokenizer, { maxLen, eosTokenId });
  const devSet = await tokenizeDataset(dev, tokenizer, { maxLen, eosTokenId });
  return { trainSet, devSet, dev };
}

async function samples(
  m: LoadedModel,
  dev: LoadedExamples,
  prefix: Prefix | null,
  usage: TaskUsage,
): Promise<string[]> {
  const eng = await tabEngine();
  const out: string[] = [];
  for (const ex of dev.examples.slice(0, SAMPLES)) {
    const r = await eng.generate({
      prompt: formatTaskPrompt(ex.input, usage.prompt),
      prefix,
      maxNewTokens: 96,
      eosTokenIds: taskEosTokenIds(usage.generation?.eosTokenIds, m.config.eosTokenIds),
    }).result;
    out.push(r.text.trim());
  }
  return out;
}

function drawSamples(dev: LoadedExamples, before: string[], after: string[] | null) {
  const body = $("samples").querySelector("tbody")!;
  body.replaceChildren();
  dev.examples.slice(0, SAMPLES).forEach((ex, i) => {
    const row = body.insertRow();
    for (const text of [ex.input, before[i] ?? "", after?.[i] ?? "…"]) {
      row.insertCell().textContent = text;
    }
  });
}

function drawCharts(records: MetricsRecord[]) {
  const trainRecs = records.filter((r): r is TrainRecord => r.type === "train");
  const evals = records.filter((r): r is EvalRecord =>
    r.type === "eval" && Number.isFinite(r.devLoss)
  );
  $("lossChart").innerHTML = lossChartSvg(
    trainRecs.filter((r) => r.loss !== null).map((r) => [r.step, r.loss!] as const),
    evals.map((r) => [r.step, r.devLoss] as const),
  );
  if (trainRecs.length > 0) {
    $("gatesChart").innerHTML = gatesChartSvg(
      trainRecs.map((r) => r.step),
      trainRecs.map((r) => r.gates),
    );
  }
}

async function startTraining(resume: boolean): Promise<void> {
  const taskName = $<HTMLInputElement>("taskName").value.trim() || "pet-stories";
  const backend = $<HTMLSelectElement>("backend").value as TrainingBackend;
  const steps = Number($<HTMLInputElement>("steps").value);
  setTraining(true);
  setState("running");
  try {
    show("status", `Loading ${base.label} and the stories…`);
    const m = await baseModel();
    const { trainSet, devSet, dev } = await mainJobData(m);
    mainJobUsage = taskUsage(trainSet);
    if (!resume) await removeOpfsRun(taskName);
    run = await opfsRun(taskName);
    if (resume && !(await run.has("checkpoint/checkpoint.json"))) {
      throw new PrefixEdgeError(
        "FILE_NOT_FOUND",
        `No checkpoint of '${taskName}' in this browser yet: press Start`,
      );
    }
    show("status", "Generating the base model's answers…");
    const before = await samples(m, dev, null, mainJobUsage);
    drawSamples(dev, before, null);
    const devMetric = await generationDevMetric(m, dev, {
      limit: EVAL_LIMIT,
      executionProvider: "wasm",
      ...mainJobUsage.generation,
    });
    const records: MetricsRecord[] = [];
    stopper = new AbortController();
    const result = await train(m, { train: trainSet, dev: devSet }, {
      ...MAIN_JOB_OPTIONS,
      steps,
      outDir: run,
      taskName,
      backend,
      signal: stopper.signal,
      ...(resume ? { resume: run } : {}),
    }, {
      progress: false,
      devMetric,
      onBackend: (line) => show("status", line),
      onWarn: (message) => show("status", message, true),
      onLog: (r) => {
        records.push(r);
        drawCharts(records);
        if (r.type === "train") {
          show(
            "status",
            `step ${r.step} of ${steps}: loss ${r.loss?.toFixed(4) ?? "-"}, ${
              Math.round(r.tokensPerSec)
            } tokens/s`,
          );
        } else if (r.type === "eval" && r.scores) {
          show("status", `eval at step ${r.step}: exact ${r.scores.exact?.toFixed(3)}`);
        }
      },
    });
    await devMetric.dispose();
    const bytes = new Uint8Array((await run.read(`${taskName}.prefix.zip`))!);
    const bundle = await PrefixBundle.fromBytes(bytes, { model: m });
    tabPrefixes.set(TAB_TASK, { bytes, prefix: bundle.prefix, usage: mainJobUsage });
    const after = await samples(m, dev, bundle.prefix, mainJobUsage);
    drawSamples(dev, before, after);
    const best = result.best ? `best at step ${result.best.step}` : "";
    show(
      "status",
      `${
        result.stopped ? "Stopped" : "Done"
      } after ${result.steps} steps on ${result.backend}; ${best}` +
        (result.verdict.ok ? "" : ` (${result.verdict.problems.join("; ")})`),
      !result.verdict.ok,
    );
    setState(result.stopped ? "stopped" : "done");
    setTaskOption(TAB_TASK, `${taskName} (trained in this tab)`);
  } catch (e) {
    show("status", describe(e), true);
    setState("failed");
  } finally {
    setTraining(false);
  }
}

/** What the run is doing, on `<body data-training>` (for a test to wait on, and for CSS). */
function setState(state: "running" | "done" | "stopped" | "failed") {
  document.body.dataset.training = state;
}

function setTraining(on: boolean) {
  $<HTMLButtonElement>("start").disabled = on;
  $<HTMLButtonElement>("resume").disabled = on;
  $<HTMLButtonElement>("stop").disabled = !on;
  const none = !tabPrefixes.has(TAB_TASK);
  $<HTMLButtonElement>("download").disabled = on || none;
  $<HTMLButtonElement>("upload").disabled = on || none;
}

// ---------------------------------------------------------------------------------------------
// Ship.

function download(): void {
  const name = `${$<HTMLInputElement>("taskName").value.trim() || "pet-stories"}.prefix.zip`;
  const url = URL.createObjectURL(
    new Blob([tabPrefixes.get(TAB_TASK)!.bytes], { type: "application/zip" }),
  );
  const a = Object.assign(document.createElement("a"), { href: url, download: name });
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

async function upload(): Promise<void> {
  const task = $<HTMLInputElement>("taskName").value.trim() || "pet-stories";
  const token = globalThis.prompt("The server's admin token (deno task serve --token-file):");
  if (!token) return;
  const res = await fetch(`/v1/tasks/${encodeURIComponent(task)}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/zip" },
    body: tabPrefixes.get(TAB_TASK)!.bytes,
  });
  const body = await res.json().catch(() => null);
  if (!res.ok) show("shipStatus", body?.error?.message ?? `HTTP ${res.status}`, true);
  else {
    show("shipStatus", `${body.replaced ? "Replaced" : "Added"} task '${task}' on the server.`);
    setTaskOption(task, task);
  }
}

$("generate").addEventListener("click", generate);
$("start").addEventListener("click", () => startTraining(false));
$("resume").addEventListener("click", () => startTraining(true));
$("stop").addEventListener("click", () => stopper?.abort());
$("download").addEventListener("click", download);
$("upload").addEventListener("click", upload);
$("modelFrom").addEventListener("change", showModelInputs);
$("loadModel").addEventListener("click", loadChosenModel);
$("bundleFile").addEventListener("change", loadBundleFile);
await fillTasks();
const startModel = query.get("model");
if (startModel) {
  $<HTMLSelectElement>("modelFrom").value = "url";
  $<HTMLInputElement>("modelUrl").value = startModel;
  showModelInputs();
  await loadChosenModel();
}
