/**
 * The oracle cases in the page: what the page runs (self-contained functions for
 * `page.evaluate`, typed against the browser build's source) and what Deno compares with.
 */
import { assert, assertAlmostEquals } from "../_assert.ts";
import { FIXTURES, type OracleCase, relL2 } from "../_fixtures.ts";
import { SafetensorsFile } from "../../src/model/mod.ts";
import type { WebSdk } from "./_browser.ts";

/** The five oracle fixtures, by folder name. */
export const ORACLE_FAMILIES = [
  "gpt2-tiny",
  "llama-tiny",
  "qwen2-tiny",
  "qwen3-tiny",
  "llama3-tiny",
];

/** The page's side: load the model and each case by URL, and compute loss and gradients. */
export const pageOracleGrads = async (
  a: {
    fixture: string;
    backend: "webgpu" | "wasm";
    kernels?: "software" | "hardware";
    subgroups?: boolean;
  },
) => {
  const sdk = (globalThis as unknown as { sdk: WebSdk }).sdk;
  sdk.setKernelDefaults({ subgroups: a.subgroups ?? false });
  const base = new URL(`/tests/fixtures/${a.fixture}/`, location.href);
  const model = await sdk.loadModel(new URL("model/", base));
  const oracle = await (await fetch(new URL("cases.json", base))).json();
  const batch = {
    inputIds: oracle.batch.input_ids,
    labels: oracle.batch.labels,
    attentionMask: oracle.batch.attention_mask,
  };
  const out = [];
  for (const c of oracle.cases) {
    const bytes = new Uint8Array(await (await fetch(new URL(c.file, base))).arrayBuffer());
    const st = await sdk.SafetensorsFile.fromBytes(bytes);
    const params: Record<string, Float32Array> = {};
    for (const name of sdk.PARAM_NAMES) {
      if (st.tensors.has(`param.${name}`)) params[name] = await st.getFloat32(`param.${name}`);
    }
    const pm = sdk.PrefixModule.fromParams(model.config, {
      prefixLen: c.prefix_len,
      reparam: c.reparam,
      gate: c.gate,
      midDim: c.mid_dim,
      params,
    });
    const t0 = performance.now();
    const r = await sdk.lossAndGrads(model, pm, batch, { backend: a.backend, kernels: a.kernels });
    out.push({
      name: c.name as string,
      loss: r.loss,
      backend: r.backend,
      kernelSet: r.kernelSet,
      ms: performance.now() - t0,
      grads: Object.fromEntries(Object.entries(r.grads).map(([k, v]) => [k, Array.from(v)])),
    });
  }
  return out;
};

/** The oracle's gradients of one case, read in Deno. */
export async function expectedGrads(
  fixture: string,
  file: string,
): Promise<Record<string, Float32Array>> {
  const st = await SafetensorsFile.open(`${FIXTURES}${fixture}/${file}`);
  try {
    const out: Record<string, Float32Array> = {};
    for (const name of st.tensors.keys()) {
      if (name.startsWith("grad.")) out[name.slice(5)] = await st.getFloat32(name);
    }
    return out;
  } finally {
    st.close();
  }
}

/** One case's result from {@link pageOracleGrads}. */
export type PageGrads = Awaited<ReturnType<typeof pageOracleGrads>>[number];

/**
 * Assert that the page's loss and every gradient of one case match the oracle (loss to 1e-3
 * relative, each gradient to relative L2 1e-3), naming every gradient that does not.
 */
export async function assertMatchesOracle(
  fixture: string,
  c: OracleCase,
  g: PageGrads,
  label: string,
): Promise<void> {
  assertAlmostEquals(g.loss, c.loss, 1e-3 * c.loss, `loss ${g.loss} vs oracle ${c.loss}`);
  const want = await expectedGrads(fixture, c.file);
  assert(
    Object.keys(g.grads).sort().join() === Object.keys(want).sort().join(),
    `gradient names ${Object.keys(g.grads)} vs ${Object.keys(want)}`,
  );
  const bad = Object.entries(want)
    .map(([name, w]) => ({ name, err: relL2(g.grads[name], w) }))
    .filter((e) => !(e.err < 1e-3));
  assert(
    bad.length === 0,
    `${fixture} ${c.name} (${label}): ${
      bad.map((e) => `grad.${e.name} relative L2 error ${e.err.toExponential(2)}`).join(", ")
    } >= 1e-3`,
  );
}
