/**
 * The browser build on onnxruntime-web in headless Chromium, against Deno:
 * - the WASM training path (the ORT training graph on onnxruntime-web): the oracle's loss and
 *   gradients of all five fixtures x six methods, to relative L2 1e-3;
 * - logits with each oracle prefix through onnxruntime-web in the page, equal to Deno's native
 *   backend (WASM where onnxruntime-node does not load) and to the oracle, to 1e-4;
 * - a greedy generation of stories260K with the main job's bundle, fetched by URL, equal token
 *   for token to Deno's;
 * - a bad model URL and bad bundles give the page the same typed errors as Deno.
 */
import { assert, assertEquals } from "../_assert.ts";
import { FIXTURES, maskedMaxDiff, type OracleCases, STORIES } from "../_fixtures.ts";
import { type ExecutionProvider, InferenceEngine } from "../../src/infer/mod.ts";
import { loadModel, SafetensorsFile } from "../../src/model/mod.ts";
import { PrefixBundle } from "../../src/bundle/mod.ts";
import { type WebSdk, webTest } from "./_browser.ts";
import { assertMatchesOracle, ORACLE_FAMILIES, pageOracleGrads } from "./_oracle_page.ts";
import { pageGenerate, pageLogits, pageRefusals, type Thrown } from "./_ort_page.ts";

const NATIVE_LOADS = await import("onnxruntime-node").then(() => true, () => false);
/** Deno's side of the logits comparison: native where it loads. */
const DENO_EP: ExecutionProvider = NATIVE_LOADS ? "native" : "wasm";
const BUNDLE = "/tests/fixtures/bundles/pet-stories-0.1.0.prefix.zip";
const PROMPT = "name: Max | animal: dog | place: park | thing: ball ||";

const step = (name: string, fn: (t: Deno.TestContext) => Promise<void>) => ({
  name,
  sanitizeOps: false,
  sanitizeResources: false,
  fn,
});

async function readCases(fixture: string): Promise<OracleCases> {
  return JSON.parse(await Deno.readTextFile(`${FIXTURES}${fixture}/cases.json`));
}

webTest("in Chromium, onnxruntime-web trains, runs and refuses as Deno does", async (t, web) => {
  await t.step(step("the WASM trainer matches the oracle's loss and gradients", async (t) => {
    for (const fixture of ORACLE_FAMILIES) {
      const oracle = await readCases(fixture);
      const got = await web.page.evaluate(pageOracleGrads, { fixture, backend: "wasm" as const });
      for (const c of oracle.cases) {
        await t.step(step(`${fixture} ${c.name}`, async () => {
          const g = got.find((x) => x.name === c.name)!;
          assertEquals(g.backend, "wasm");
          await assertMatchesOracle(fixture, c, g, "wasm");
        }));
      }
    }
  }));

  await t.step(step(`logits with prefixes equal Deno's (${DENO_EP}) and the oracle`, async (t) => {
    for (const fixture of ORACLE_FAMILIES) {
      const oracle = await readCases(fixture);
      const got = await web.page.evaluate(pageLogits, { fixture });
      const model = await loadModel(`${FIXTURES}${fixture}/model`);
      const engine = await InferenceEngine.create(model, { executionProvider: DENO_EP });
      try {
        for (const c of oracle.cases) {
          const st = await SafetensorsFile.open(`${FIXTURES}${fixture}/${c.file}`);
          const prefix = { prefixLen: st.info("kv").shape[0], kv: await st.getFloat32("kv") };
          const want = await st.getFloat32("logits");
          st.close();
          const deno = await engine.logits({
            inputIds: oracle.batch.input_ids,
            attentionMask: oracle.batch.attention_mask,
            prefixes: oracle.batch.input_ids.map(() => prefix),
          });
          await t.step(step(`${fixture} ${c.name}`, async () => {
            const g = got.find((x) => x.name === c.name)!;
            assertEquals(g.dims, [...deno.dims]);
            const V = model.config.vocabSize, mask = oracle.batch.attention_mask;
            const vsDeno = maskedMaxDiff(g.data, deno.data, mask, V);
            const vsOracle = maskedMaxDiff(g.data, want, mask, V);
            assert(vsDeno <= 1e-4, `max |page - Deno ${DENO_EP}| ${vsDeno} > 1e-4`);
            assert(vsOracle <= 1e-4, `max |page - oracle| ${vsOracle} > 1e-4`);
            await Promise.resolve();
          }));
        }
      } finally {
        await engine.dispose();
      }
    }
  }));

  await t.step(step("a greedy generation of stories260K with a bundle equals Deno's", async () => {
    const maxNewTokens = 64;
    const page = await web.page.evaluate(pageGenerate, {
      model: "/models/stories260K/",
      bundle: BUNDLE,
      prompt: PROMPT,
      maxNewTokens,
    });
    const model = await loadModel(STORIES);
    const bundle = await PrefixBundle.load(`${FIXTURES}bundles/pet-stories-0.1.0.prefix.zip`, {
      model,
    });
    for (const ep of NATIVE_LOADS ? ["wasm", "native"] as const : ["wasm"] as const) {
      const engine = await InferenceEngine.create(model, { executionProvider: ep });
      try {
        const deno = await engine.generate({ prompt: PROMPT, prefix: bundle.prefix, maxNewTokens })
          .result;
        assertEquals(page.tokenIds, deno.tokenIds, `page vs Deno ${ep}`);
        assertEquals(page.text, deno.text);
      } finally {
        await engine.dispose();
      }
    }
    assert(page.tokenIds.length >= 20, `only ${page.tokenIds.length} tokens: ${page.text}`);
    assert(page.text.includes("Max"), `the bundle's story names no Max: ${page.text}`);
  }));

  await t.step(
    step("a cross-origin isolated page runs ORT's WASM threads: half its cores", async () => {
      const got = await web.page.evaluate(() => {
        const sdk = (globalThis as unknown as { sdk: WebSdk }).sdk;
        return {
          isolated: (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated,
          cores: navigator.hardwareConcurrency,
          threads: sdk.defaultWasmThreads(),
        };
      });
      assert(got.isolated, "the test server sends COOP/COEP, so the page must be isolated");
      assertEquals(got.threads, Math.min(4, Math.ceil(got.cores / 2)), JSON.stringify(got));
    }),
  );

  await t.step(step("bad model URLs and bad bundles give the same typed errors", async () => {
    const bytes = await Deno.readFile(`${FIXTURES}bundles/pet-stories-0.1.0.prefix.zip`);
    const flipAt = bytes.length >> 1;
    const page = await web.page.evaluate(pageRefusals, {
      bundle: BUNDLE,
      otherModel: "/tests/fixtures/gpt2-tiny/model/",
      flipAt,
    });
    const thrown = async (fn: () => Promise<unknown>): Promise<Thrown | null> => {
      try {
        await fn();
        return null;
      } catch (e) {
        const err = e as Error & { code?: string };
        return { name: err.name, code: err.code ?? null, message: err.message };
      }
    };
    const url = (p: string) => new URL(p, web.origin);
    const flipped = bytes.slice();
    flipped[flipAt] ^= 0xff;
    const other = await loadModel(url("/tests/fixtures/gpt2-tiny/model/"));
    const deno: Record<keyof typeof page, Thrown | null> = {
      "model URL with nothing there": await thrown(() => loadModel(url("/models/no-such-model/"))),
      "bundle URL with nothing there": await thrown(() =>
        PrefixBundle.load(url("/tests/fixtures/bundles/none.prefix.zip"), { model: null })
      ),
      "bundle with a flipped byte": await thrown(() =>
        PrefixBundle.fromBytes(flipped, { model: null, source: "flipped.prefix.zip" })
      ),
      "truncated bundle": await thrown(() =>
        PrefixBundle.fromBytes(bytes.slice(0, bytes.length >> 1), {
          model: null,
          source: "truncated.prefix.zip",
        })
      ),
      "bundle for another base model": await thrown(() =>
        PrefixBundle.fromBytes(bytes, { model: other, source: "other.prefix.zip" })
      ),
    };
    const summary = (r: Record<string, Thrown | null>) =>
      Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v && `${v.name} ${v.code}`]));
    console.log(summary(page));
    assertEquals(
      summary(page),
      summary(deno),
      `page vs Deno:\n${JSON.stringify({ page, deno }, null, 1)}`,
    );
    for (const [k, v] of Object.entries(page)) {
      assert(v && v.code && v.name !== "Error", `${k}: not a typed error: ${JSON.stringify(v)}`);
    }
  }));
});
