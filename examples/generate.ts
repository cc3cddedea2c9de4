/**
 * Generate text with the embedded default model, first bare and then with a
 * prefix, streaming to stdout. Runs on the CPU (WASM): no GPU needed.
 *
 *     deno run -A examples/generate.ts
 */
import { InferenceEngine, loadModel, prefixWidth } from "../mod.ts";

const model = await loadModel(new URL("../models/stories260K", import.meta.url));
const engine = await InferenceEngine.create(model, { executionProvider: "wasm" });
const write = (s: string) => Deno.stdout.writeSync(new TextEncoder().encode(s));

// 1. The bare base model, greedy.
write("Once upon a time");
for await (const piece of engine.generate({ prompt: "Once upon a time", maxNewTokens: 40 })) {
  write(piece.text);
}
write("\n\n");

// 2. A prefix: P virtual tokens of keys/values for every layer, [P, 2*L*D].
//    A trained one comes from a bundle; this one is random, so it only shows the plumbing.
const P = 4, S = prefixWidth(model.config);
const prefix = {
  prefixLen: P,
  kv: Float32Array.from({ length: P * S }, () => Math.random() - 0.5),
};
const stream = engine.generate({
  prompt: "Once upon a time",
  prefix,
  maxNewTokens: 40,
  temperature: 0.8,
  seed: 1,
  stop: ["\n"],
});
write("Once upon a time");
for await (const piece of stream) write(piece.text);
const result = await stream.result;
write(`\n(${result.tokenIds.length} tokens, finish: ${result.finishReason})\n`);
await engine.dispose();
