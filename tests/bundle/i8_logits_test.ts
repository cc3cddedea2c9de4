/**
 * What quantization costs where it matters: the ONNX logits of gpt2-tiny
 * with the prefix read back from an F16 or I8 bundle, against the logits with
 * the F32 prefix. The bounds asserted here are the ones docs/bundle-format.md
 * states.
 *
 * The graph is run directly with onnxruntime-web (WASM EP) in this test file
 * only: input_ids int64 [B,T], attention_mask int64 [B,P+T], position_ids
 * int64 from P, past_key_values.{l}.key|value f32 [B,H,P,hd] from
 * prefixSlot(). The F32 run is first checked against the oracle's logits, so
 * the harness itself is tested.
 */
import * as ort from "onnxruntime-web";
import { assert } from "../_assert.ts";
import { GPT2_TINY, maskedMaxDiff, readCases } from "../_fixtures.ts";
import { PrefixBundle } from "../../src/bundle/mod.ts";
import { type LoadedModel, type Prefix, prefixSlot, SafetensorsFile } from "../../src/model/mod.ts";
import { gpt2Tiny } from "./_helpers.ts";

/** Stated in docs/bundle-format.md §6 (measured: see the test's output). */
const F16_LOGIT_BOUND = 2e-4;
const I8_LOGIT_BOUND = 1e-2;

async function runLogits(
  session: ort.InferenceSession,
  model: LoadedModel,
  prefix: Prefix,
  batch: { input_ids: number[][]; attention_mask: number[][] },
): Promise<Float32Array> {
  const c = model.config;
  const B = batch.input_ids.length, T = batch.input_ids[0].length, P = prefix.prefixLen;
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor("int64", BigInt64Array.from(batch.input_ids.flat(), BigInt), [B, T]),
    attention_mask: new ort.Tensor(
      "int64",
      BigInt64Array.from(
        batch.attention_mask.flatMap((row) => [...Array(P).fill(1), ...row]),
        BigInt,
      ),
      [B, P + T],
    ),
    position_ids: new ort.Tensor(
      "int64",
      BigInt64Array.from({ length: B * T }, (_, i) => BigInt(P + (i % T))),
      [B, T],
    ),
  };
  for (let l = 0; l < c.numLayers; l++) {
    for (const [kind, name] of [[0, "key"], [1, "value"]] as const) {
      const one = prefixSlot(c, prefix, l, kind); // [H, P, hd]
      const data = new Float32Array(B * one.length);
      for (let b = 0; b < B; b++) data.set(one, b * one.length);
      feeds[`past_key_values.${l}.${name}`] = new ort.Tensor("float32", data, [
        B,
        c.numKvHeads,
        P,
        c.headDim,
      ]);
    }
  }
  if (session.inputNames.includes("use_cache_branch")) {
    feeds.use_cache_branch = new ort.Tensor("bool", new Uint8Array([1]), [1]);
  }
  const out = await session.run(feeds);
  return out.logits.data as Float32Array;
}

Deno.test("ONNX logits with F16 and I8 bundles stay within the stated bounds of F32", async () => {
  ort.env.wasm.numThreads = 1;
  const model = await gpt2Tiny();
  const cases = await readCases(GPT2_TINY);
  const session = await ort.InferenceSession.create(await model.readOnnx(), {
    executionProviders: ["wasm"],
  });
  const V = model.config.vocabSize;
  const report: string[] = [];
  for (const c of cases.cases) {
    const st = await SafetensorsFile.open(`${GPT2_TINY}/${c.file}`);
    const kv = Float32Array.from(await st.getFloat32("kv"));
    const oracle = await st.getFloat32("logits");
    st.close();
    const prefix = { prefixLen: c.prefix_len, kv };
    const f32 = await runLogits(session, model, prefix, cases.batch);
    const harness = maskedMaxDiff(f32, oracle, cases.batch.attention_mask, V);
    assert(harness <= 1e-4, `${c.name}: F32 logits differ from the oracle by ${harness}`);

    const bundle = await PrefixBundle.create({
      prefix,
      model,
      task: c.name,
      method: { reparam: c.reparam, gate: c.gate, midDim: c.reparam === "none" ? null : c.mid_dim },
    });
    const diffs: Record<string, number> = {};
    for (const dtype of ["F16", "I8"] as const) {
      const back = await PrefixBundle.fromBytes(await bundle.toBytes({ dtype }), { model });
      const logits = await runLogits(session, model, back.prefix, cases.batch);
      diffs[dtype] = maskedMaxDiff(logits, f32, cases.batch.attention_mask, V);
    }
    report.push(
      `${c.name}: oracle ${harness.toExponential(2)}  F16 ${diffs.F16.toExponential(2)}  I8 ${
        diffs.I8.toExponential(2)
      }`,
    );
    assert(diffs.F16 <= F16_LOGIT_BOUND, `${c.name}: F16 logits differ by ${diffs.F16}`);
    assert(diffs.I8 <= I8_LOGIT_BOUND, `${c.name}: I8 logits differ by ${diffs.I8}`);
  }
  console.log("max |logit - logit(F32)| over unmasked positions:\n" + report.join("\n"));
  await session.release();
});
