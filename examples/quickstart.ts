/**
 * The library tour from the README, runnable: train a prefix on WebGPU for a
 * few steps, fold it, run it through the ONNX engine, and pack it as a bundle.
 *
 * Run from the repository root: deno run -A examples/quickstart.ts
 */
import {
  InferenceEngine,
  loadModel,
  lossAndGrads,
  PrefixBundle,
  PrefixModule,
  trainSteps,
} from "../mod.ts";

// The tiny random GPT-2 of the test fixtures (training runs on GPT-2 models).
const model = await loadModel(new URL("../tests/fixtures/gpt2-tiny/model", import.meta.url));
const pm = PrefixModule.init(model.config, {
  prefixLen: 10,
  reparam: "residual",
  gate: true,
  midDim: 512,
  seed: 1,
});
const batch = { inputIds: [[1, 2, 3, 4]], labels: [[-100, -100, 3, 4]] };
const { loss, grads } = await lossAndGrads(model, pm, batch); // on the fastest backend
console.log("loss", loss.toFixed(4), "grad tensors", Object.keys(grads).join(","));
const { losses } = await trainSteps(model, pm, batch, { steps: 10, lr: 1e-2 }); // AdamW, in place; backend: "webgpu" | "native" | "wasm" picks one
console.log("losses", losses.map((l) => l.toFixed(3)).join(" "));
const prefix = pm.fold(); // { prefixLen, kv: [P, 2*L*D] }

const engine = await InferenceEngine.create(model, { executionProvider: "wasm" });
const out = await engine.logits({ inputIds: [[1, 2, 3]], prefixes: [prefix] });
console.log("logits dims", out.dims.join("x"));
const ids: number[] = [];
for await (const piece of engine.generate({ inputIds: [1, 2], prefix, maxNewTokens: 8 })) {
  ids.push(piece.tokenId);
}
console.log("generated", ids.join(" "));
await engine.dispose();

const bundle = await PrefixBundle.create({
  prefix,
  model,
  task: "demo",
  method: { reparam: "residual", gate: true, midDim: 512 },
});
const bytes = await bundle.toBytes({ dtype: "F16" });
console.log("bundle bytes", bytes.length);
