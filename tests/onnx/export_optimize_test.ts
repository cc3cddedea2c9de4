/**
 * `--optimize` on a Llama without grouped-query heads (H = Hk), with a separate lm_head and
 * random weights: its GroupQueryAttention graph, with per-row prefixes of different lengths and
 * a padded row, gives the plain graph's logits, which tests/onnx/export_decoder_test.ts holds to
 * the PyTorch export (tests/infer/ragged_batch_test.ts covers grouped heads and decoding).
 */
import { assert, assertEquals } from "../_assert.ts";
import { maxAbsDiff } from "../_fixtures.ts";
import { PROVIDERS, randomPrefix } from "../infer/_engines.ts";
import { InferenceEngine } from "../../src/infer/mod.ts";
import { encodeSafetensors, loadModel, prefixWidth } from "../../src/model/mod.ts";
import { exportOnnx } from "../../src/onnx/mod.ts";

const D = 32, H = 4, M = 48, V = 64, L = 2; // head size D / H = 8

/** A tiny random Llama (H = Hk = 4, untied lm_head) in a temporary folder. */
async function tinyMhaLlama(): Promise<string> {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    `${dir}/config.json`,
    JSON.stringify({
      model_type: "llama",
      vocab_size: V,
      hidden_size: D,
      intermediate_size: M,
      num_hidden_layers: L,
      num_attention_heads: H,
      num_key_value_heads: H,
      max_position_embeddings: 64,
      rms_norm_eps: 1e-5,
      rope_theta: 10000,
      tie_word_embeddings: false,
      eos_token_id: 2,
    }),
  );
  let s = 7;
  const rand = (shape: number[], scale = 0.2) => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      data[i] = (s / 2 ** 32 - 0.5) * 2 * scale;
    }
    return { dtype: "F32" as const, shape, data };
  };
  const t: Record<string, ReturnType<typeof rand>> = {
    "model.embed_tokens.weight": rand([V, D], 1),
    "model.norm.weight": rand([D], 1),
    "lm_head.weight": rand([V, D]),
  };
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}`;
    for (const n of ["q", "k", "v", "o"]) t[`${p}.self_attn.${n}_proj.weight`] = rand([D, D]);
    t[`${p}.mlp.gate_proj.weight`] = rand([M, D]);
    t[`${p}.mlp.up_proj.weight`] = rand([M, D]);
    t[`${p}.mlp.down_proj.weight`] = rand([D, M]);
    t[`${p}.input_layernorm.weight`] = rand([D], 1);
    t[`${p}.post_attention_layernorm.weight`] = rand([D], 1);
  }
  await Deno.writeFile(`${dir}/model.safetensors`, encodeSafetensors(t));
  return dir;
}

const dir = await tinyMhaLlama();
const plain = await exportOnnx(dir, { out: `${dir}/plain/model.onnx` });
const fused = await exportOnnx(dir, { out: `${dir}/fused/model.onnx`, optimize: true });

Deno.test("--optimize records GroupQueryAttention for a Llama with H = Hk", () => {
  assertEquals(plain.record.options.fusedOps, []);
  assertEquals(fused.record.options.fusedOps, ["GroupQueryAttention"]);
  assertEquals(fused.record.options.optimize, true);
});

for (const { ep, ignore } of PROVIDERS) {
  Deno.test({
    name: `--optimize (GroupQueryAttention) equals the plain Llama graph with prefixes on ${ep}`,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const model = await loadModel(dir);
      const S = prefixWidth(model.config);
      const req = {
        inputIds: [[5, 6, 7], [8, 9, 10], [0, 11, 12]],
        attentionMask: [[1, 1, 1], [1, 1, 1], [0, 1, 1]],
        prefixes: [randomPrefix(S, 2, 1), randomPrefix(S, 4, 2), null],
      };
      const run = async (path: string) => {
        const e = await InferenceEngine.create(model, {
          executionProvider: ep,
          onnx: await Deno.readFile(path),
        });
        try {
          return (await e.logits(req)).data;
        } finally {
          await e.dispose();
        }
      };
      const [a, b] = [await run(plain.onnxPath), await run(fused.onnxPath)];
      // Real positions only: the padded column of row 2 is meaningless.
      const realOnly = (x: Float32Array) => x.filter((_, i) => Math.floor(i / V) !== 6);
      const err = maxAbsDiff(realOnly(a), realOnly(b));
      assert(err <= 1e-4, `max |diff| ${err}`);
    },
  });
}
