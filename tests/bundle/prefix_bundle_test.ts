/**
 * Round trips of the gpt2-tiny oracle prefix through every stored dtype, the
 * manifest's contents, and the three ways to load (path, file: URL, http).
 */
import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { maxAbsDiff, readCases } from "../_fixtures.ts";
import { GPT2_TINY, LLAMA3_TINY, LLAMA_TINY, QWEN2_TINY, QWEN3_TINY } from "../_fixtures.ts";
import { type BundleError, PrefixBundle } from "../../src/bundle/mod.ts";
import { editManifest, gpt2Tiny, oraclePrefix, rezip, sha256, unzip } from "./_helpers.ts";
import { loadModel, SafetensorsFile } from "../../src/model/mod.ts";

async function makeBundle() {
  const model = await gpt2Tiny();
  const prefix = await oraclePrefix();
  const bundle = await PrefixBundle.create({
    prefix,
    model,
    task: "oracle-residual-gate",
    method: { reparam: "residual", gate: true, midDim: 32, gates: [0.5, 0.5, 0.5, 0.5] },
    training: { data: "cases.json batch", steps: 5, finalLoss: 6.9, metrics: { acc: 0.25 } },
    createdAt: new Date(Date.UTC(2026, 10, 27, 8, 0, 0)),
  });
  return { model, prefix, bundle };
}

Deno.test("an F32 bundle round-trips the oracle kv exactly", async () => {
  const { model, prefix, bundle } = await makeBundle();
  const back = await PrefixBundle.fromBytes(await bundle.toBytes({ dtype: "F32" }), { model });
  assertEquals(back.prefix.prefixLen, prefix.prefixLen);
  assertEquals(back.manifest.dtype, "F32");
  assertEquals(Array.from(back.prefix.kv), Array.from(prefix.kv));
  assert(back.baseVerified);
});

Deno.test("every oracle case of gpt2-tiny, llama-tiny (GQA), qwen2-tiny, qwen3-tiny (head_dim != C / H) and llama3-tiny round-trips in F32", async () => {
  for (const dir of [GPT2_TINY, LLAMA_TINY, QWEN2_TINY, QWEN3_TINY, LLAMA3_TINY]) {
    const cases = await readCases(dir);
    const model = await loadModel(`${dir}/model`);
    for (const c of cases.cases) {
      const prefix = await oraclePrefix(c.file, dir);
      assertEquals(prefix.prefixLen, c.prefix_len);
      const b = await PrefixBundle.create({
        prefix,
        model,
        task: c.name,
        method: {
          reparam: c.reparam,
          gate: c.gate,
          midDim: c.reparam === "none" ? null : c.mid_dim,
        },
      });
      const back = await PrefixBundle.fromBytes(await b.toBytes({ dtype: "F32" }), { model });
      assertEquals(maxAbsDiff(back.prefix.kv, prefix.kv), 0, `${dir} ${c.name}`);
      assertEquals(back.manifest.numKvHeads, model.config.numKvHeads);
    }
  }
});

Deno.test("an F16 bundle (the default) stays within half-precision rounding of the oracle", async () => {
  const { model, prefix, bundle } = await makeBundle();
  const bytes = await bundle.toBytes();
  const back = await PrefixBundle.fromBytes(bytes, { model });
  assertEquals(back.manifest.dtype, "F16");
  for (let i = 0; i < prefix.kv.length; i++) {
    const x = prefix.kv[i];
    // Round to nearest: relative error <= 2^-11 for normals, absolute <= 2^-25 for subnormals.
    const bound = Math.max(Math.abs(x) * 2 ** -11, 2 ** -25);
    assert(Math.abs(back.prefix.kv[i] - x) <= bound, `kv[${i}]: ${back.prefix.kv[i]} vs ${x}`);
  }
  // And it is not silently F32: some value must have been rounded.
  assert(maxAbsDiff(back.prefix.kv, prefix.kv) > 0);
});

Deno.test("an I8 bundle is within half a quantization step per (slot, head)", async () => {
  const { model, prefix, bundle } = await makeBundle();
  const bytes = await bundle.toBytes({ dtype: "I8" });
  const back = await PrefixBundle.fromBytes(bytes, { model });
  assertEquals(back.manifest.dtype, "I8");
  const c = model.config;
  const hd = c.headDim, S = 2 * c.numLayers * c.numKvHeads * hd;
  // Reference scales computed here, independently of the codec.
  for (let jh = 0; jh < S / hd; jh++) {
    let m = 0;
    for (let p = 0; p < prefix.prefixLen; p++) {
      for (let d = 0; d < hd; d++) m = Math.max(m, Math.abs(prefix.kv[p * S + jh * hd + d]));
    }
    const step = m / 127;
    for (let p = 0; p < prefix.prefixLen; p++) {
      for (let d = 0; d < hd; d++) {
        const i = p * S + jh * hd + d;
        assert(Math.abs(back.prefix.kv[i] - prefix.kv[i]) <= step / 2 + 1e-7, `kv[${i}]`);
      }
    }
  }
  const st = await SafetensorsFile.fromBytes(unzip(bytes)["prefix.safetensors"]);
  assertEquals(st.info("kv").dtype, "I8");
  assertEquals(st.info("kv.scale").shape, [2 * c.numLayers, c.numKvHeads]);
});

Deno.test("the manifest records every field DESIGN §3 lists", async () => {
  const { model, bundle } = await makeBundle();
  const bytes = await bundle.toBytes({ dtype: "F16" });
  const files = unzip(bytes);
  assertEquals(Object.keys(files).sort(), ["manifest.json", "prefix.safetensors"]);
  const m = JSON.parse(new TextDecoder().decode(files["manifest.json"]));
  assertEquals(m.format, "prefix-edge.prefix-bundle");
  assertEquals(m.formatVersion, 1);
  assertEquals(m.task, "oracle-residual-gate");
  assertEquals([m.prefixLen, m.numLayers, m.numKvHeads, m.headDim], [4, 2, 4, 16]);
  assertEquals(m.dtype, "F16");
  assertEquals(m.layout, "P,2L,H,hd");
  assertEquals(m.positions, "prefix-first");
  assertEquals(m.method, {
    reparam: "residual",
    gate: true,
    midDim: 32,
    gates: [0.5, 0.5, 0.5, 0.5],
  });
  assertEquals(m.training.steps, 5);
  assertEquals(m.training.metrics, { acc: 0.25 });
  assertEquals(m.tokenizerFingerprint, null); // gpt2-tiny has no tokenizer
  assertEquals(m.base.architecture.numLayers, model.config.numLayers);
  assertEquals(m.base.fingerprint.kind, "safetensors-sample-v1");
  assertEquals(m.base.otherFingerprints[0].kind, "onnx-sample-v1");
  assertEquals(m.sha256, await sha256(files["prefix.safetensors"]));
  assertEquals(m.createdAt, "2026-11-27T08:00:00.000Z");
});

Deno.test("writing is reproducible: the same bundle gives the same bytes", async () => {
  const { bundle } = await makeBundle();
  assertEquals(await bundle.toBytes({ dtype: "I8" }), await bundle.toBytes({ dtype: "I8" }));
});

Deno.test("unknown manifest fields are tolerated and survive a convert", async () => {
  const { model, bundle } = await makeBundle();
  const bytes = editManifest(await bundle.toBytes({ dtype: "F32" }), (m) => {
    m.futureField = { hello: "world" };
    (m.training as Record<string, unknown>).extra = [1, 2];
  });
  const back = await PrefixBundle.fromBytes(bytes, { model });
  assertEquals(back.manifest.futureField, { hello: "world" });
  const converted = await PrefixBundle.fromBytes(await back.toBytes({ dtype: "I8" }), { model });
  assertEquals(converted.manifest.futureField, { hello: "world" });
  assertEquals(converted.manifest.training.extra, [1, 2]);
  assertEquals(converted.manifest.dtype, "I8");
});

Deno.test("reading with model: null checks the file but reports the base unverified", async () => {
  const { bundle } = await makeBundle();
  const back = await PrefixBundle.fromBytes(await bundle.toBytes(), { model: null });
  assertEquals(back.baseVerified, false);
});

Deno.test("load() reads a path and a file: URL", async () => {
  const { model, prefix, bundle } = await makeBundle();
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/t.prefix.zip`;
    await Deno.writeFile(path, await bundle.toBytes({ dtype: "F32" }));
    const a = await PrefixBundle.load(path, { model });
    const b = await PrefixBundle.load(new URL(`file://${path}`), { model });
    assertEquals(Array.from(a.prefix.kv), Array.from(prefix.kv));
    assertEquals(Array.from(b.prefix.kv), Array.from(prefix.kv));
    await assertRejects(
      () => PrefixBundle.load(path, { model, maxBytes: 100 }),
      (e) => assertEquals((e as BundleError).code, "BUNDLE_TOO_LARGE"),
    );
    await assertRejects(
      () => PrefixBundle.load(`${dir}/missing.prefix.zip`, { model }),
      (e) => assertEquals((e as BundleError).code, "FILE_NOT_FOUND"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("load() fetches http URLs and bounds the body while streaming", async () => {
  const { model, prefix, bundle } = await makeBundle();
  const bytes = await bundle.toBytes({ dtype: "F32" });
  const ac = new AbortController();
  const server = Deno.serve(
    { port: 0, signal: ac.signal, onListen: () => {} },
    (req) => {
      const path = new URL(req.url).pathname;
      if (path === "/t.prefix.zip") return new Response(bytes);
      if (path === "/chunked") {
        // No content-length: the bound must be enforced while reading.
        return new Response(
          new ReadableStream({
            start(c) {
              for (let i = 0; i < 64; i++) c.enqueue(new Uint8Array(1024));
              c.close();
            },
          }),
        );
      }
      return new Response("no", { status: 404 });
    },
  );
  try {
    const base = `http://localhost:${server.addr.port}`;
    const b = await PrefixBundle.load(`${base}/t.prefix.zip`, { model });
    assertEquals(Array.from(b.prefix.kv), Array.from(prefix.kv));
    await assertRejects(
      () => PrefixBundle.load(`${base}/t.prefix.zip`, { model, maxBytes: 1000 }),
      (e) => assertEquals((e as BundleError).code, "BUNDLE_TOO_LARGE"),
    );
    await assertRejects(
      () => PrefixBundle.load(`${base}/chunked`, { model, maxBytes: 10_000 }),
      (e) => assertEquals((e as BundleError).code, "BUNDLE_TOO_LARGE"),
    );
    await assertRejects(
      () => PrefixBundle.load(`${base}/missing`, { model }),
      (e) => assertEquals((e as BundleError).code, "FILE_NOT_FOUND"),
    );
  } finally {
    ac.abort();
    await server.finished;
  }
});

Deno.test("create() refuses a prefix that does not fit the model", async () => {
  const model = await gpt2Tiny();
  const prefix = await oraclePrefix();
  await assertRejects(
    () =>
      PrefixBundle.create({
        prefix: { prefixLen: 3, kv: prefix.kv },
        model,
        task: "t",
        method: { reparam: "none", gate: false, midDim: null },
      }),
    (e) => assertEquals((e as BundleError).code, "PREFIX_MISMATCH"),
  );
});

Deno.test("toBytes() refuses F16 for values beyond the half range", async () => {
  const model = await gpt2Tiny();
  const prefix = await oraclePrefix();
  prefix.kv[7] = 1e6;
  const b = await PrefixBundle.create({
    prefix,
    model,
    task: "big",
    method: { reparam: "none", gate: false, midDim: null },
  });
  await assertRejects(
    () => b.toBytes({ dtype: "F16" }),
    (e) => assertEquals((e as BundleError).code, "BUNDLE_NONFINITE"),
  );
  // F32 and I8 can hold it.
  await PrefixBundle.fromBytes(await b.toBytes({ dtype: "F32" }), { model });
  await PrefixBundle.fromBytes(await b.toBytes({ dtype: "I8" }), { model });
});

Deno.test("a bundle whose zip holds an extra entry is still read", async () => {
  const { model, bundle } = await makeBundle();
  const bytes = rezip(await bundle.toBytes(), (f) => {
    f["README.txt"] = new TextEncoder().encode("hello");
  });
  await PrefixBundle.fromBytes(bytes, { model });
});
