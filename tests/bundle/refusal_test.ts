/**
 * Every way a bundle can be wrong is refused with a typed error whose message
 * names the file: truncation, flipped bytes, checksums, another base model,
 * a wrong P, NaN, zip bombs (honest and lying sizes), unknown versions and
 * missing fields.
 */
import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { GPT2_TINY, GPT2_TOK, LLAMA_TINY } from "../_fixtures.ts";
import { BundleError, PrefixBundle } from "../../src/bundle/mod.ts";
import { PrefixEdgeError } from "../../src/errors/mod.ts";
import {
  encodeSafetensors,
  loadModel,
  SafetensorsFile,
  type TensorToWrite,
} from "../../src/model/mod.ts";
import { writeZip } from "../../src/bundle/_zip.ts";
import {
  editManifest,
  gpt2Tiny,
  oraclePrefix,
  patchDeclaredSize,
  rezip,
  sha256,
  unzip,
} from "./_helpers.ts";

const FILE = "task.prefix.zip";

async function validBytes(dtype: "F32" | "F16" | "I8" = "F32") {
  const model = await gpt2Tiny();
  const bundle = await PrefixBundle.create({
    prefix: await oraclePrefix(),
    model,
    task: "t",
    method: { reparam: "residual", gate: true, midDim: 32 },
  });
  return { model, bytes: await bundle.toBytes({ dtype }) };
}

/** Expect a BundleError with `code` whose message names the file. */
async function refused(
  bytes: Uint8Array,
  code: string,
  opts: { model?: Awaited<ReturnType<typeof gpt2Tiny>> | null; maxBytes?: number } = {},
  messagePart?: string,
) {
  const model = opts.model === undefined ? await gpt2Tiny() : opts.model;
  await assertRejects(
    () => PrefixBundle.fromBytes(bytes, { model, source: FILE, maxBytes: opts.maxBytes }),
    (e) => {
      assert(e instanceof BundleError, `expected a BundleError, got ${e}`);
      assert(e instanceof PrefixEdgeError);
      assertEquals(e.code, code, e.message);
      assertEquals(e.file, FILE);
      assert(e.message.includes(FILE), `message does not name the file: ${e.message}`);
      assert(e.message.startsWith("Cannot "), e.message);
      if (messagePart) assert(e.message.includes(messagePart), e.message);
    },
  );
}

Deno.test("a truncated bundle is refused as BUNDLE_CORRUPT", async () => {
  const { bytes } = await validBytes();
  for (const n of [0, 10, bytes.length >> 1, bytes.length - 1]) {
    await refused(bytes.subarray(0, n), "BUNDLE_CORRUPT");
  }
});

Deno.test("flipped bytes inside the compressed tensor are refused", async () => {
  const { bytes } = await validBytes();
  const corrupt = bytes.slice();
  // The tensor entry's data sits after manifest.json's; flip a byte in its middle.
  const at = bytes.length - 400;
  corrupt[at] ^= 0x5a;
  await assertRejects(
    () => PrefixBundle.fromBytes(corrupt, { model: null, source: FILE }),
    (e) => {
      assert(e instanceof BundleError);
      assert(["BUNDLE_CORRUPT", "BUNDLE_CHECKSUM"].includes(e.code), e.code);
    },
  );
});

Deno.test("flipped tensor bytes re-zipped with a valid CRC fail the manifest sha256", async () => {
  const { bytes } = await validBytes();
  const bad = rezip(bytes, (f) => {
    const st = f["prefix.safetensors"].slice();
    st[st.length - 3] ^= 0x01;
    f["prefix.safetensors"] = st;
  });
  await refused(bad, "BUNDLE_CHECKSUM", {}, "sha256");
});

Deno.test("a wrong checksum in the manifest is refused as BUNDLE_CHECKSUM", async () => {
  const { bytes } = await validBytes();
  await refused(editManifest(bytes, (m) => (m.sha256 = "0".repeat(64))), "BUNDLE_CHECKSUM");
});

Deno.test("a bundle for another base model is refused as BASE_MISMATCH", async () => {
  const { bytes } = await validBytes();
  // Another architecture (llama-tiny): refused on the architecture numbers.
  await refused(bytes, "BASE_MISMATCH", { model: await loadModel(`${LLAMA_TINY}/model`) });
  // Same architecture, other weights (one tensor perturbed): refused on the fingerprint.
  const dir = await Deno.makeTempDir();
  try {
    await Deno.copyFile(`${GPT2_TINY}/model/config.json`, `${dir}/config.json`);
    const st = await SafetensorsFile.open(`${GPT2_TINY}/model/model.safetensors`);
    const tensors: Record<string, TensorToWrite> = {};
    for (const [name, info] of st.tensors) {
      const data = await st.getFloat32(name);
      if (name === [...st.tensors.keys()].sort()[0]) {
        for (let i = 0; i < data.length; i++) data[i] *= 1.01;
      }
      tensors[name] = { dtype: "F32", shape: info.shape, data };
    }
    st.close();
    await Deno.writeFile(`${dir}/model.safetensors`, encodeSafetensors(tensors));
    await refused(bytes, "BASE_MISMATCH", { model: await loadModel(dir) }, "fingerprint");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  // A forged fingerprint on the right architecture.
  const forged = editManifest(bytes, (m) => {
    const base = m.base as { fingerprint: { sha256: string }; otherFingerprints?: unknown };
    base.fingerprint.sha256 = "ab".repeat(32);
    delete base.otherFingerprints;
  });
  await refused(forged, "BASE_MISMATCH", {}, "fingerprint");
});

Deno.test("a tokenizer fingerprint that differs from the model's is refused", async () => {
  const tok = await loadModel(GPT2_TOK);
  const prefix = {
    prefixLen: 2,
    kv: new Float32Array(2 * 2 * tok.config.numLayers * tok.config.numKvHeads * tok.config.headDim),
  };
  const b = await PrefixBundle.create({
    prefix,
    model: tok,
    task: "t",
    method: { reparam: "none", gate: false, midDim: null },
  });
  const bytes = await b.toBytes();
  assertEquals(b.manifest.tokenizerFingerprint, tok.tokenizer!.fingerprint);
  await PrefixBundle.fromBytes(bytes, { model: tok });
  await refused(
    editManifest(bytes, (m) => (m.tokenizerFingerprint = "cd".repeat(32))),
    "BASE_MISMATCH",
    { model: tok },
    "tokenizer",
  );
});

Deno.test("a wrong P in the manifest is refused as PREFIX_MISMATCH", async () => {
  const { bytes } = await validBytes();
  await refused(editManifest(bytes, (m) => (m.prefixLen = 5)), "PREFIX_MISMATCH", {}, "shape");
  await refused(editManifest(bytes, (m) => (m.prefixLen = 3)), "PREFIX_MISMATCH");
  // A P that leaves no context is refused before anything is inflated.
  await refused(editManifest(bytes, (m) => (m.prefixLen = 128)), "PREFIX_MISMATCH");
});

Deno.test("a dtype that disagrees with the tensor is refused as BUNDLE_CORRUPT", async () => {
  const { bytes } = await validBytes("F16");
  await refused(editManifest(bytes, (m) => (m.dtype = "F32")), "BUNDLE_CORRUPT");
  await refused(editManifest(bytes, (m) => (m.dtype = "BF16")), "BUNDLE_CORRUPT");
});

Deno.test("NaN and Inf in kv or in the I8 scales are refused as BUNDLE_NONFINITE", async () => {
  for (const [dtype, bad] of [["F32", NaN], ["F32", Infinity], ["F16", NaN]] as const) {
    const { bytes } = await validBytes(dtype);
    const files = unzip(bytes);
    const P = 4, S = 256;
    const kv = dtype === "F32" ? new Float32Array(P * S) : new Float16Array(P * S);
    kv.fill(0.5);
    kv[300] = bad;
    const st = encodeSafetensors({ kv: { dtype, shape: [P, S], data: kv } });
    const digest = await sha256(st);
    const out = rezip(bytes, (f) => {
      f["prefix.safetensors"] = st;
      const m = JSON.parse(new TextDecoder().decode(files["manifest.json"]));
      m.sha256 = digest;
      f["manifest.json"] = new TextEncoder().encode(JSON.stringify(m));
    });
    await refused(out, "BUNDLE_NONFINITE", {}, "slot");
  }
  const { bytes } = await validBytes("I8");
  const scale = new Float32Array(16).fill(0.01);
  scale[3] = NaN;
  const st = encodeSafetensors({
    kv: { dtype: "I8", shape: [4, 256], data: new Int8Array(1024) },
    "kv.scale": { dtype: "F32", shape: [4, 4], data: scale },
  });
  const digest = await sha256(st);
  const out = rezip(bytes, (f) => {
    f["prefix.safetensors"] = st;
    const m = JSON.parse(new TextDecoder().decode(f["manifest.json"]));
    m.sha256 = digest;
    f["manifest.json"] = new TextEncoder().encode(JSON.stringify(m));
  });
  await refused(out, "BUNDLE_NONFINITE", {}, "kv.scale");
});

Deno.test("a zip bomb with honest sizes is refused before inflating", async () => {
  const { bytes } = await validBytes();
  const manifest = unzip(bytes)["manifest.json"];
  // 8 MiB of zeros deflate to ~8 KiB: far past what P=4 x S=256 needs.
  const bomb = writeZip(
    { "manifest.json": manifest, "prefix.safetensors": new Uint8Array(8 << 20) },
    new Date(),
  );
  assert(bomb.length < 100_000, `bomb is ${bomb.length} bytes`);
  await refused(bomb, "BUNDLE_TOO_LARGE", {}, "declares");
  // The same with an explicit small bound.
  await refused(bomb, "BUNDLE_TOO_LARGE", { maxBytes: 1 << 20 });
});

Deno.test("a zip bomb that lies about its size is stopped while inflating", async () => {
  const { bytes } = await validBytes();
  const manifest = unzip(bytes)["manifest.json"];
  const bomb = patchDeclaredSize(
    writeZip(
      { "manifest.json": manifest, "prefix.safetensors": new Uint8Array(8 << 20) },
      new Date(),
    ),
    "prefix.safetensors",
    4000,
  );
  await refused(bomb, "BUNDLE_TOO_LARGE", {}, "inflates past");
  // A lying manifest entry hits the manifest bound (1 MiB) the same way.
  const manifestBomb = patchDeclaredSize(
    writeZip(
      {
        "manifest.json": new Uint8Array(8 << 20).fill(0x20),
        "prefix.safetensors": new Uint8Array(8),
      },
      new Date(),
    ),
    "manifest.json",
    100,
  );
  await refused(manifestBomb, "BUNDLE_TOO_LARGE", {}, "manifest.json");
});

Deno.test("an unknown format version is refused as BUNDLE_VERSION", async () => {
  const { bytes } = await validBytes();
  await refused(
    editManifest(bytes, (m) => (m.formatVersion = 2)),
    "BUNDLE_VERSION",
    {},
    "version 2",
  );
  // Even when the rest of the manifest is unrecognizable.
  await refused(
    rezip(bytes, (f) => {
      f["manifest.json"] = new TextEncoder().encode(
        JSON.stringify({ format: "prefix-edge.prefix-bundle", formatVersion: 7 }),
      );
    }),
    "BUNDLE_VERSION",
  );
});

Deno.test("a missing required manifest field is refused and named", async () => {
  const { bytes } = await validBytes();
  for (
    const field of [
      "task",
      "prefixLen",
      "sha256",
      "dtype",
      "method",
      "base",
      "tokenizerFingerprint",
    ]
  ) {
    await refused(
      editManifest(bytes, (m) => delete m[field]),
      "BUNDLE_CORRUPT",
      {},
      `"${field}"`,
    );
  }
  await refused(
    editManifest(bytes, (m) => delete (m.base as Record<string, unknown>).fingerprint),
    "BUNDLE_CORRUPT",
    {},
    "base.fingerprint",
  );
});

Deno.test("a foreign zip (no manifest, or another format) is refused as BUNDLE_CORRUPT", async () => {
  const { bytes } = await validBytes();
  await refused(
    rezip(bytes, (f) => delete f["manifest.json"]),
    "BUNDLE_CORRUPT",
    {},
    "manifest.json",
  );
  await refused(rezip(bytes, (f) => delete f["prefix.safetensors"]), "BUNDLE_CORRUPT");
  await refused(editManifest(bytes, (m) => (m.format = "something-else")), "BUNDLE_CORRUPT");
  await refused(new TextEncoder().encode("not a zip at all, just some text"), "BUNDLE_CORRUPT");
});
