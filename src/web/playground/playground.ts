/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The playground page: ask the server (or this tab) for a task's answer, train the main job in
 * the tab with the loss and gates drawn as it goes, and ship the bundle (download it, or upload
 * it to the server). Built by `deno task build:web` into `dist/web/playground.js`; `deno task
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
  parseExamples,
  type Prefix,
  PrefixBundle,
  PrefixEdgeError,
  type RunFiles,
  taskEosTokenIds,
  type TaskUsage,
  taskUsage,
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
/** The option value of the prefix trained in this tab. */
const TAB_TASK = "@tab";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const show = (id: string, text: string, error = false) => {
  const el = $(id);
  el.textContent = text;
  el.classList.toggle("error", error);
};
const describe = (e: unknown) =>
  e instanceof PrefixEdgeError ? `${e.code}: ${e.message}` : String((e as Error)?.message ?? e);

let model: Promise<LoadedModel> | null = null;
const baseModel = () => model ??= loadModel(new URL(`${MAIN_JOB_FILES.model}/`, ASSETS));
let engine: Promise<InferenceEngine> | null = null;
const tabEngine = async () =>
  await (engine ??= baseModel().then((m) =>
    InferenceEngine.create(m, { executionProvider: "wasm" })
  ));

/** The prefix trained here, with the layout its bundle records. */
let trained: { bytes: Uint8Array<ArrayBuffer>; prefix: Prefix; usage: TaskUsage } | null = null;
let run: RunFiles | null = null;

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
    if ($<HTMLSelectElement>("runOn").value === "server" && task !== TAB_TASK) {
      await generateOnServer(task || "base", text, maxNewTokens);
    } else {
      await generateInTab(task === TAB_TASK, text, maxNewTokens);
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

async function generateInTab(withPrefix: boolean, text: string, maxNewTokens: number) {
  const eng = await tabEngine();
  const usage = withPrefix ? trained!.usage : mainJobUsage ?? {};
  const answer = $("answer");
  const stream = eng.generate({
    prompt: formatTaskPrompt(text, usage.prompt),
    prefix: withPrefix ? trained!.prefix : null,
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
    show("status", "Loading stories260K and the stories…");
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
    trained = { bytes, prefix: bundle.prefix, usage: mainJobUsage };
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
    const select = $<HTMLSelectElement>("task");
    if (![...select.options].some((o) => o.value === TAB_TASK)) {
      select.add(new Option(`${taskName} (trained in this tab)`, TAB_TASK));
    }
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
  $<HTMLButtonElement>("download").disabled = on || trained === null;
  $<HTMLButtonElement>("upload").disabled = on || trained === null;
}

// ---------------------------------------------------------------------------------------------
// Ship.

function download(): void {
  const name = `${$<HTMLInputElement>("taskName").value.trim() || "pet-stories"}.prefix.zip`;
  const url = URL.createObjectURL(new Blob([trained!.bytes], { type: "application/zip" }));
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
    body: trained!.bytes,
  });
  const body = await res.json().catch(() => null);
  if (!res.ok) show("shipStatus", body?.error?.message ?? `HTTP ${res.status}`, true);
  else {
    show("shipStatus", `${body.replaced ? "Replaced" : "Added"} task '${task}' on the server.`);
    const select = $<HTMLSelectElement>("task");
    if (![...select.options].some((o) => o.value === task)) select.add(new Option(task, task));
  }
}

$("generate").addEventListener("click", generate);
$("start").addEventListener("click", () => startTraining(false));
$("resume").addEventListener("click", () => startTraining(true));
$("stop").addEventListener("click", () => stopper?.abort());
$("download").addEventListener("click", download);
$("upload").addEventListener("click", upload);
await fillTasks();
