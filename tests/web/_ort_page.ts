/**
 * What the page runs on onnxruntime-web (self-contained functions for `page.evaluate`, typed
 * against the browser build's source): logits with prefixes, a greedy generation with a bundle,
 * and the typed errors of a bad model URL and a corrupt bundle.
 */
import type { WebSdk } from "./_browser.ts";

/** Logits of the oracle batch with each case's folded prefix (`kv`), on WASM. */
export const pageLogits = async (a: { fixture: string }) => {
  const sdk = (globalThis as unknown as { sdk: WebSdk }).sdk;
  const base = new URL(`/tests/fixtures/${a.fixture}/`, location.href);
  const model = await sdk.loadModel(new URL("model/", base));
  const oracle = await (await fetch(new URL("cases.json", base))).json();
  const engine = await sdk.InferenceEngine.create(model, { executionProvider: "wasm" });
  try {
    const out = [];
    for (const c of oracle.cases) {
      const bytes = new Uint8Array(await (await fetch(new URL(c.file, base))).arrayBuffer());
      const st = await sdk.SafetensorsFile.fromBytes(bytes);
      const prefix = { prefixLen: st.info("kv").shape[0], kv: await st.getFloat32("kv") };
      const r = await engine.logits({
        inputIds: oracle.batch.input_ids,
        attentionMask: oracle.batch.attention_mask,
        prefixes: oracle.batch.input_ids.map(() => prefix),
      });
      out.push({ name: c.name as string, dims: [...r.dims], data: Array.from(r.data) });
    }
    return out;
  } finally {
    await engine.dispose();
  }
};

/** A greedy generation of a model (by URL) with a bundle (by URL), on WASM. */
export const pageGenerate = async (
  a: { model: string; bundle: string; prompt: string; maxNewTokens: number },
) => {
  const sdk = (globalThis as unknown as { sdk: WebSdk }).sdk;
  const model = await sdk.loadModel(new URL(a.model, location.href));
  const bundle = await sdk.PrefixBundle.load(new URL(a.bundle, location.href), { model });
  const engine = await sdk.InferenceEngine.create(model, { executionProvider: "wasm" });
  try {
    const r = await engine.generate({
      prompt: a.prompt,
      prefix: bundle.prefix,
      maxNewTokens: a.maxNewTokens,
    }).result;
    return { tokenIds: r.tokenIds, text: r.text, task: bundle.manifest.task };
  } finally {
    await engine.dispose();
  }
};

/** What a failed call threw: its class name and code (or the message of an untyped error). */
export interface Thrown {
  name: string;
  code: string | null;
  message: string;
}

/**
 * The refusals a page can meet, each run in the page: a model URL with nothing there, a bundle
 * URL with nothing there, a bundle with a flipped byte, a truncated bundle, and a bundle for
 * another base model. Returns what each threw, by case name.
 */
export const pageRefusals = async (
  a: { bundle: string; otherModel: string; flipAt: number },
) => {
  const sdk = (globalThis as unknown as { sdk: WebSdk }).sdk;
  const url = (p: string) => new URL(p, location.href);
  const thrown = async (fn: () => Promise<unknown>) => {
    try {
      await fn();
      return null;
    } catch (e) {
      const err = e as Error & { code?: string };
      return { name: err.name, code: err.code ?? null, message: err.message };
    }
  };
  const bytes = new Uint8Array(await (await fetch(url(a.bundle))).arrayBuffer());
  const flipped = bytes.slice();
  flipped[a.flipAt] ^= 0xff;
  const other = await sdk.loadModel(url(a.otherModel));
  return {
    "model URL with nothing there": await thrown(() =>
      sdk.loadModel(url("/models/no-such-model/"))
    ),
    "bundle URL with nothing there": await thrown(() =>
      sdk.PrefixBundle.load(url("/tests/fixtures/bundles/none.prefix.zip"), { model: null })
    ),
    "bundle with a flipped byte": await thrown(() =>
      sdk.PrefixBundle.fromBytes(flipped, { model: null, source: "flipped.prefix.zip" })
    ),
    "truncated bundle": await thrown(() =>
      sdk.PrefixBundle.fromBytes(bytes.slice(0, bytes.length >> 1), {
        model: null,
        source: "truncated.prefix.zip",
      })
    ),
    "bundle for another base model": await thrown(() =>
      sdk.PrefixBundle.fromBytes(bytes, { model: other, source: "other.prefix.zip" })
    ),
  };
};
