/// <reference lib="dom" />
/**
 * The playground's base model and tasks in headless Chromium, as static files (`dist/web/`): a
 * model folder by URL (`?model=`) and from the user's disk, a bad URL's typed error, and a bundle
 * file loaded into the tab whose greedy answer equals Deno's, and a corrupt one refused with
 * Deno's error code.
 */
import { join } from "node:path";
import { assert, assertEquals } from "../_assert.ts";
import { FIXTURES, STORIES } from "../_fixtures.ts";
import { InferenceEngine } from "../../src/infer/mod.ts";
import { loadModel } from "../../src/model/mod.ts";
import {
  formatTaskPrompt,
  PrefixBundle,
  taskEosTokenIds,
  taskUsageOf,
} from "../../src/bundle/mod.ts";
import type { ElementHandle } from "puppeteer-core";
import { webTest } from "./_browser.ts";
import { generateAnswer } from "./_playground.ts";

const BUNDLE = `${FIXTURES}bundles/pet-stories-0.1.0.prefix.zip`;
// The fixture bundle predates recorded prompt layouts: the prompt carries its separator.
const RECORD = "name: Max | animal: dog | place: park | thing: ball ||";
const NEW_TOKENS = 48;

webTest("the playground loads base models and bundle files into the tab", async (_t, web) => {
  const { page } = web;
  const status = () => page.$eval("#modelStatus", (el) => el.textContent ?? "");
  const statusIsError = async () => (await page.$("#modelStatus.error")) !== null;
  const waitStatus = (not: string) =>
    page.waitForFunction(
      (n: string) => {
        const t = document.getElementById("modelStatus")?.textContent ?? "";
        return !t.startsWith("Loading") && t !== n;
      },
      { timeout: 120_000 },
      not,
    );

  // A model folder by URL, from the query string.
  await page.goto(`${web.origin}/dist/web/index.html?model=/models/stories260K/`);
  await page.waitForFunction(() =>
    (document.getElementById("modelStatus")?.textContent ?? "").includes("layers")
  );
  assertEquals(
    await status(),
    `${web.origin}/models/stories260K/: llama, 5 layers, width 64, vocabulary 512.`,
  );
  assert(!(await statusIsError()));

  // A URL with no model there: the loader's typed error, shown.
  let before = await status();
  await page.$eval("#modelUrl", (el) => (el as HTMLInputElement).value = "/models/no-such-model/");
  await page.click("#loadModel");
  await waitStatus(before);
  assert(await statusIsError(), await status());
  assert((await status()).includes("FILE_NOT_FOUND: Cannot load model from"), await status());

  // A model folder's files from the user's disk.
  before = await status();
  await page.select("#modelFrom", "folder");
  const folderInput = (await page.$("input#modelFolder")) as ElementHandle<HTMLInputElement>;
  const files = [...Deno.readDirSync(STORIES)].filter((e) => e.isFile).map((e) =>
    join(STORIES, e.name)
  );
  await folderInput.uploadFile(...files, join(STORIES, "onnx/model.onnx"));
  await page.click("#loadModel");
  await waitStatus(before);
  assert(!(await statusIsError()), await status());
  assert((await status()).endsWith(": llama, 5 layers, width 64, vocabulary 512."), await status());

  // A bundle file, run in the tab: the same greedy answer as Deno's.
  const bundleInput = (await page.$("input#bundleFile")) as ElementHandle<HTMLInputElement>;
  await bundleInput.uploadFile(BUNDLE);
  await page.waitForFunction(() =>
    (document.getElementById("task") as HTMLSelectElement).value === "@file"
  );
  await page.$eval("#prompt", (el, r) => (el as HTMLTextAreaElement).value = r, RECORD);
  await page.$eval("#maxNewTokens", (el, n) => (el as HTMLInputElement).value = n, `${NEW_TOKENS}`);
  const answer = await generateAnswer(page);

  const model = await loadModel(STORIES);
  const bundle = await PrefixBundle.load(BUNDLE, { model });
  const usage = taskUsageOf(bundle.manifest);
  const engine = await InferenceEngine.create(model, { executionProvider: "wasm" });
  try {
    const deno = await engine.generate({
      prompt: formatTaskPrompt(RECORD, usage.prompt),
      prefix: bundle.prefix,
      maxNewTokens: NEW_TOKENS,
      eosTokenIds: taskEosTokenIds(usage.generation?.eosTokenIds, model.config.eosTokenIds),
    }).result;
    assertEquals(answer, deno.text);
  } finally {
    await engine.dispose();
  }
  assert(answer.includes("Max"), answer);

  // A corrupt bundle file: refused with the code Deno gives, and the tab's task is gone.
  const dir = await Deno.makeTempDir({ prefix: "playground-bundle-" });
  try {
    const bytes = await Deno.readFile(BUNDLE);
    bytes[bytes.length >> 1] ^= 0xff;
    const bad = join(dir, "flipped.prefix.zip");
    await Deno.writeFile(bad, bytes);
    const code = await PrefixBundle.fromBytes(bytes, { model }).then(
      () => null,
      (e) => (e as { code?: string }).code,
    );
    assert(code, "Deno accepts the flipped bundle");
    await bundleInput.uploadFile(bad);
    await page.waitForSelector("#answer.error");
    const refused = await page.$eval("#answer", (el) => el.textContent ?? "");
    assert(refused.startsWith(`flipped.prefix.zip: ${code}: `), refused);
    const options = await page.$$eval("#task option", (os) => os.map((o) => o.value));
    assertEquals(options, [""]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
