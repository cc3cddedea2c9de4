/** The session wrapper: on WebGPU the KV cache stays on the GPU between steps. */
import { assertEquals } from "../_assert.ts";
import { GPT2_TINY } from "../_fixtures.ts";
import { DecoderSession } from "../../src/infer/decoder_session.ts";
import { prefixCache } from "../../src/infer/kv_cache.ts";
import { loadOrtBackend } from "../../src/infer/ort_backend.ts";
import { loadModel } from "../../src/model/mod.ts";
import { NO_WEBGPU } from "./_engines.ts";

Deno.test({
  name: "on webgpu present tensors stay on the GPU and feed the next step directly",
  ignore: NO_WEBGPU,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const model = await loadModel(`${GPT2_TINY}/model`);
    const backend = await loadOrtBackend("webgpu");
    const s = await DecoderSession.create(backend, await model.readOnnx(), model.config, "x", true);
    try {
      const cache = prefixCache(backend, model.config, [null]);
      const a = await s.forward({
        inputIds: [1, 2],
        attentionMask: [1, 1],
        positionIds: [0, 1],
        batch: 1,
        seqLen: 2,
        cache,
      });
      assertEquals(a.cache.tensors.map((t) => t.location), new Array(4).fill("gpu-buffer"));
      const b = await s.forward({
        inputIds: [3],
        attentionMask: [1, 1, 1],
        positionIds: [2],
        batch: 1,
        seqLen: 1,
        cache: a.cache,
      });
      a.cache.dispose();
      assertEquals(b.cache.tensors[0].dims, [1, 4, 3, 16]);
      assertEquals(b.cache.tensors[0].location, "gpu-buffer");
      assertEquals(b.dims, [1, 1, 1000]);
      b.cache.dispose();
    } finally {
      await s.release();
    }
  },
});
