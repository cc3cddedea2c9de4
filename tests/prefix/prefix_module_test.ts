import { assert, assertEquals, assertThrows } from "../_assert.ts";
import {
  GPT2_TINY,
  LLAMA3_TINY,
  LLAMA_TINY,
  maxAbsDiff,
  QWEN2_TINY,
  QWEN3_TINY,
  readCases,
} from "../_fixtures.ts";
import { loadModel, prefixWidth, validatePrefix } from "../../src/model/mod.ts";
import { PrefixEdgeError } from "../../src/errors/mod.ts";
import { paramShapes, PrefixModule } from "../../src/prefix/mod.ts";
import { loadCase } from "./_oracle_case.ts";

const model = await loadModel(`${GPT2_TINY}/model`);
const cases = await readCases(GPT2_TINY);
const S = prefixWidth(model.config);

for (const fixture of [GPT2_TINY, LLAMA_TINY, QWEN2_TINY, QWEN3_TINY, LLAMA3_TINY]) {
  const family = fixture.split("/").pop();
  const fixtureModel = await loadModel(`${fixture}/model`);
  const width = prefixWidth(fixtureModel.config);
  for (const c of (await readCases(fixture)).cases) {
    Deno.test(`fold() matches the ${family} oracle kv to 1e-5 for ${c.name}`, async () => {
      const { pm, kv } = await loadCase(fixture, fixtureModel, c);
      const prefix = pm.fold();
      assertEquals(prefix.prefixLen, c.prefix_len);
      assertEquals(prefix.kv.length, c.prefix_len * width);
      const err = maxAbsDiff(prefix.kv, kv);
      assert(err <= 1e-5, `${family} ${c.name}: max |kv - oracle| = ${err}`);
      validatePrefix(fixtureModel.config, prefix);
    });
  }
}

Deno.test("gates() is sigmoid(a) with a gate and ones without", async () => {
  const gated = (await loadCase(GPT2_TINY, model, cases.cases.find((c) => c.gate)!)).pm;
  const a = gated.params.a;
  const g = gated.gates();
  for (let p = 0; p < a.length; p++) assert(Math.abs(g[p] - 1 / (1 + Math.exp(-a[p]))) < 1e-7);
  const plain = (await loadCase(GPT2_TINY, model, cases.cases.find((c) => !c.gate)!)).pm;
  assertEquals(Array.from(plain.gates()), [1, 1, 1, 1]);
});

Deno.test("paramShapes() follows the DESIGN table (mlp's E is [P, d_model])", () => {
  const d = model.config.hiddenSize;
  assertEquals(paramShapes(model.config, { prefixLen: 4, reparam: "mlp", gate: true, midDim: 8 }), {
    E: [4, d],
    W1: [d, 8],
    b1: [8],
    W2: [8, S],
    b2: [S],
    a: [4],
  });
  assertEquals(
    paramShapes(model.config, { prefixLen: 4, reparam: "residual", gate: false, midDim: 8 }).W1,
    [S, 8],
  );
  assertEquals(
    paramShapes(model.config, { prefixLen: 3, reparam: "none", gate: false, midDim: 8 }),
    {
      E: [3, S],
    },
  );
});

Deno.test("init() is deterministic per seed and starts the gate at a = 0", () => {
  const o = { prefixLen: 5, reparam: "residual" as const, gate: true, midDim: 16, seed: 3 };
  const x = PrefixModule.init(model.config, o);
  const y = PrefixModule.init(model.config, o);
  const z = PrefixModule.init(model.config, { ...o, seed: 4 });
  assertEquals(Array.from(x.params.E), Array.from(y.params.E));
  assert(maxAbsDiff(x.params.E, z.params.E) > 0, "different seeds give different E");
  assertEquals(Array.from(x.params.a), [0, 0, 0, 0, 0]);
  assertEquals(Array.from(x.gates()), [0.5, 0.5, 0.5, 0.5, 0.5]);
  assertEquals(Object.keys(x.params), ["E", "W1", "b1", "W2", "b2", "a"]);
  assertEquals(x.options, { prefixLen: 5, reparam: "residual", gate: true, midDim: 16 });
});

Deno.test("fromParams() refuses missing, extra and misshapen parameters", () => {
  const base = { prefixLen: 2, reparam: "none" as const, gate: false };
  const code = (e: unknown) => {
    assert(e instanceof PrefixEdgeError && e.code === "INVALID_INPUT", String(e));
  };
  assertThrows(() => PrefixModule.fromParams(model.config, { ...base, params: {} }), code);
  assertThrows(() =>
    PrefixModule.fromParams(model.config, {
      ...base,
      params: { E: new Float32Array(2 * S), a: new Float32Array(2) },
    }), code);
  assertThrows(
    () => PrefixModule.fromParams(model.config, { ...base, params: { E: new Float32Array(S) } }),
    code,
  );
  const nan = new Float32Array(2 * S);
  nan[5] = NaN;
  assertThrows(() => PrefixModule.fromParams(model.config, { ...base, params: { E: nan } }), code);
  assertThrows(
    () => PrefixModule.init(model.config, { prefixLen: 0 }),
    code,
  );
});
