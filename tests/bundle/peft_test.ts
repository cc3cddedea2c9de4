/**
 * PEFT prefix-tuning interop: the layout matches PEFT's get_prompt (written
 * out here independently as index arithmetic), export/import round-trips,
 * GQA models use the KV head count, and bad adapters are refused.
 */
import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { LLAMA_TINY, QWEN3_TINY } from "../_fixtures.ts";
import { BundleError, exportPeft, importPeft, PrefixBundle } from "../../src/bundle/mod.ts";
import {
  encodeSafetensors,
  loadModel,
  type ModelConfig,
  prefixSlot,
  SafetensorsFile,
} from "../../src/model/mod.ts";
import { gpt2Tiny, oraclePrefix } from "./_helpers.ts";

/**
 * PEFT's PeftModel.get_prompt for prefix tuning, as index arithmetic:
 * E [P, 2L*token_dim] .view(B=1, P, 2L, H, token_dim/H) .permute([2,0,3,1,4])
 * -> [2L, 1, H, P, hd], .split(2) -> layer l = [2, 1, H, P, hd] (key, value).
 */
function peftGetPrompt(E: Float32Array, P: number, L: number, H: number, tokenDim: number) {
  const hd = tokenDim / H;
  const layers: Float32Array[][] = [];
  for (let l = 0; l < L; l++) {
    const pair: Float32Array[] = [];
    for (let kv = 0; kv < 2; kv++) {
      const out = new Float32Array(H * P * hd); // [H, P, hd]
      const j = 2 * l + kv; // index along the permuted 2L axis
      for (let h = 0; h < H; h++) {
        for (let p = 0; p < P; p++) {
          for (let d = 0; d < hd; d++) {
            // view index (0, p, j, h, d) in [1, P, 2L, H, hd], row-major
            out[(h * P + p) * hd + d] = E[(((p * 2 * L) + j) * H + h) * hd + d];
          }
        }
      }
      pair.push(out);
    }
    layers.push(pair);
  }
  return layers;
}

async function writeAdapter(
  dir: string,
  config: ModelConfig,
  E: Float32Array,
  P: number,
  overrides: Record<string, unknown> = {},
  dtype: "F32" | "F16" = "F32",
) {
  const D = config.numKvHeads * config.headDim;
  // The fields PEFT writes for PrefixTuningConfig (save_pretrained).
  const cfg = {
    auto_mapping: null,
    base_model_name_or_path: "tiny-base",
    encoder_hidden_size: config.hiddenSize,
    inference_mode: true,
    num_attention_heads: config.numKvHeads,
    num_layers: config.numLayers,
    num_transformer_submodules: 1,
    num_virtual_tokens: P,
    peft_type: "PREFIX_TUNING",
    peft_version: "0.17.1",
    prefix_projection: false,
    revision: null,
    task_type: "CAUSAL_LM",
    token_dim: D,
    ...overrides,
  };
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/adapter_config.json`, JSON.stringify(cfg));
  const data = dtype === "F32" ? E : Float16Array.from(E);
  await Deno.writeFile(
    `${dir}/adapter_model.safetensors`,
    encodeSafetensors(
      { prompt_embeddings: { dtype, shape: [P, 2 * config.numLayers * D], data } },
      {
        format: "pt",
      },
    ),
  );
}

Deno.test("PEFT's get_prompt layout equals our prefixSlot past_key_values", async () => {
  const qwen3 = await loadModel(`${QWEN3_TINY}/model`);
  // Qwen3: head_dim 24 with hidden 64 and 4 heads, so token_dim = 2 KV heads x 24 = 48, not 64.
  assertEquals(qwen3.config.numKvHeads * qwen3.config.headDim, 48);
  for (const model of [await gpt2Tiny(), await loadModel(`${LLAMA_TINY}/model`), qwen3]) {
    const c = model.config;
    const P = 3, D = c.numKvHeads * c.headDim;
    const E = Float32Array.from({ length: P * 2 * c.numLayers * D }, (_, i) => i);
    const peft = peftGetPrompt(E, P, c.numLayers, c.numKvHeads, D);
    for (let l = 0; l < c.numLayers; l++) {
      for (const kv of [0, 1] as const) {
        assertEquals(
          Array.from(prefixSlot(c, { prefixLen: P, kv: E }, l, kv)),
          Array.from(peft[l][kv]),
          `layer ${l} ${kv ? "value" : "key"}`,
        );
      }
    }
  }
});

Deno.test("exportPeft() writes a PREFIX_TUNING adapter that importPeft() reads back exactly", async () => {
  const model = await gpt2Tiny();
  const prefix = await oraclePrefix();
  const bundle = await PrefixBundle.create({
    prefix,
    model,
    task: "t",
    method: { reparam: "residual", gate: true, midDim: 32 },
    baseName: "tiny-gpt2",
  });
  const dir = await Deno.makeTempDir();
  try {
    await exportPeft(bundle, dir);
    const cfg = JSON.parse(await Deno.readTextFile(`${dir}/adapter_config.json`));
    assertEquals(cfg.peft_type, "PREFIX_TUNING");
    assertEquals(cfg.task_type, "CAUSAL_LM");
    assertEquals(cfg.num_virtual_tokens, 4);
    assertEquals(cfg.num_layers, 2);
    assertEquals(cfg.token_dim, 64);
    assertEquals(cfg.num_attention_heads, 4);
    assertEquals(cfg.num_transformer_submodules, 1);
    assertEquals(cfg.prefix_projection, false);
    assertEquals(cfg.base_model_name_or_path, "tiny-gpt2");
    const st = await SafetensorsFile.open(`${dir}/adapter_model.safetensors`);
    assertEquals(st.info("prompt_embeddings").shape, [4, 256]);
    assertEquals(Array.from(await st.getFloat32("prompt_embeddings")), Array.from(prefix.kv));
    st.close();
    const back = await importPeft(dir, { model, task: "roundtrip" });
    assertEquals(Array.from(back.prefix.kv), Array.from(prefix.kv));
    assertEquals(back.manifest.task, "roundtrip");
    assertEquals(back.manifest.method.reparam, "none");
    assertEquals(back.manifest.base.name, "tiny-gpt2");
    assertEquals(back.manifest.training.source, "peft");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a GQA (Llama) adapter uses the KV head count for token_dim and heads", async () => {
  const model = await loadModel(`${LLAMA_TINY}/model`);
  const c = model.config;
  assert(c.numKvHeads < c.numHeads, "llama-tiny is GQA");
  const P = 2, D = c.numKvHeads * c.headDim;
  const E = Float32Array.from({ length: P * 2 * c.numLayers * D }, (_, i) => Math.sin(i));
  const dir = await Deno.makeTempDir();
  try {
    await writeAdapter(dir, c, E, P, {}, "F16");
    const b = await importPeft(dir, { model });
    for (let i = 0; i < E.length; i++) {
      assert(Math.abs(b.prefix.kv[i] - E[i]) <= Math.abs(E[i]) * 2 ** -11 + 2 ** -25);
    }
    // A config written with the query head count (pre-GQA PEFT) is refused.
    await writeAdapter(dir, c, E, P, {
      num_attention_heads: c.numHeads,
      token_dim: c.numHeads * c.headDim,
    });
    await assertRejects(
      () => importPeft(dir, { model }),
      (e) => assertEquals((e as BundleError).code, "PREFIX_MISMATCH"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("importPeft() refuses adapters that are not causal-LM prefix tuning or do not fit", async () => {
  const model = await gpt2Tiny();
  const c = model.config;
  const P = 4;
  const E = new Float32Array(P * 2 * c.numLayers * c.numKvHeads * c.headDim);
  const dir = await Deno.makeTempDir();
  const expect = async (overrides: Record<string, unknown>, code: string) => {
    await writeAdapter(dir, c, E, P, overrides);
    await assertRejects(
      () => importPeft(dir, { model }),
      (e) => {
        assert(e instanceof BundleError);
        assertEquals(e.code, code, e.message);
        assert(e.message.includes(dir), e.message);
      },
    );
  };
  try {
    await expect({ peft_type: "LORA" }, "PEFT_INVALID");
    await expect({ task_type: "SEQ_2_SEQ_LM" }, "PEFT_INVALID");
    await expect({ num_transformer_submodules: 2 }, "PEFT_INVALID");
    await expect({ num_layers: 3 }, "PREFIX_MISMATCH");
    await expect({ token_dim: 32 }, "PREFIX_MISMATCH");
    await expect({ num_virtual_tokens: 5 }, "PREFIX_MISMATCH");
    await expect({ num_virtual_tokens: "4" }, "PEFT_INVALID");
    const nan = E.slice();
    nan[5] = NaN;
    await writeAdapter(dir, c, nan, P);
    await assertRejects(
      () => importPeft(dir, { model }),
      (e) => assertEquals((e as BundleError).code, "BUNDLE_NONFINITE"),
    );
    await Deno.remove(`${dir}/adapter_config.json`);
    await assertRejects(
      () => importPeft(dir, { model }),
      (e) => assertEquals((e as BundleError).code, "FILE_NOT_FOUND"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
