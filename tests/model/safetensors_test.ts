import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { encodeSafetensors, SafetensorsFile } from "../../src/model/mod.ts";
import { PrefixEdgeError } from "../../src/errors/mod.ts";
import { GPT2_TINY } from "../_fixtures.ts";

async function corrupt(bytes: Uint8Array, needle: string) {
  const e = await assertRejects(() => SafetensorsFile.fromBytes(bytes, "x.safetensors"));
  assert(e instanceof PrefixEdgeError);
  assertEquals(e.code, "SAFETENSORS_CORRUPT");
  assert(e.message.includes(needle), `"${e.message}" should mention "${needle}"`);
}

function withHeader(header: unknown, dataLen: number): Uint8Array {
  const h = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + dataLen);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  return out;
}

Deno.test("SafetensorsFile reads the oracle model lazily from disk", async () => {
  const st = await SafetensorsFile.open(`${GPT2_TINY}/model/model.safetensors`);
  assertEquals(st.info("transformer.wte.weight").shape, [1000, 64]);
  const wpe = await st.getFloat32("transformer.wpe.weight");
  assertEquals(wpe.length, 128 * 64);
  assert(wpe.every(Number.isFinite));
  st.close();
});

Deno.test("encodeSafetensors() round-trips F32, F16, BF16 and I8", async () => {
  const f32 = new Float32Array([1.5, -2.25, 3, 0]);
  const bf16 = new Uint16Array(new Uint32Array(f32.buffer.slice(0)).map((x) => x >>> 16));
  const bytes = encodeSafetensors({
    a: { dtype: "F32", shape: [2, 2], data: f32 },
    b: { dtype: "F16", shape: [4], data: new Float16Array(f32) },
    c: { dtype: "BF16", shape: [4], data: new Uint8Array(bf16.buffer) },
    d: { dtype: "I8", shape: [3], data: new Int8Array([-1, 0, 127]) },
  }, { format: "pt" });
  const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assertEquals(headerLen % 8, 0);
  const st = await SafetensorsFile.fromBytes(bytes);
  assertEquals([...await st.getFloat32("a")], [...f32]);
  assertEquals([...await st.getFloat32("b")], [...f32]);
  assertEquals([...await st.getFloat32("c")], [...f32]);
  assertEquals([...new Int8Array((await st.getBytes("d")).buffer)], [-1, 0, 127]);
  assertEquals(st.metadata.format, "pt");
});

Deno.test("SafetensorsFile refuses corrupt headers with SAFETENSORS_CORRUPT", async () => {
  await corrupt(new Uint8Array(4), "shorter than");
  const huge = new Uint8Array(16);
  new DataView(huge.buffer).setBigUint64(0, 1n << 40n, true);
  await corrupt(huge, "exceeds");
  const past = new Uint8Array(16);
  new DataView(past.buffer).setBigUint64(0, 100n, true);
  await corrupt(past, "past the end");
  await corrupt(
    withHeader({ a: { dtype: "F32", shape: [2], data_offsets: [0, 4] } }, 4),
    "needs 8 bytes",
  );
  await corrupt(
    withHeader({ a: { dtype: "Q4", shape: [1], data_offsets: [0, 1] } }, 1),
    "unsupported dtype",
  );
  await corrupt(withHeader({ a: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, 8), "gap");
  await corrupt(withHeader({ a: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, 8), "cover");
  await corrupt(withHeader({ a: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, 4), "shape");
  const bad = withHeader({}, 0);
  bad[8] = 0xff;
  await corrupt(bad, "JSON");
});

Deno.test("SafetensorsFile.open() on a missing path gives FILE_NOT_FOUND", async () => {
  const e = await assertRejects(() => SafetensorsFile.open("/nonexistent.safetensors"));
  assert(e instanceof PrefixEdgeError);
  assertEquals(e.code, "FILE_NOT_FOUND");
});

Deno.test("SafetensorsFile.open() on a folder gives FILE_NOT_FOUND naming it a folder", async () => {
  const e = await assertRejects(() => SafetensorsFile.open(GPT2_TINY));
  assert(e instanceof PrefixEdgeError);
  assertEquals(e.code, "FILE_NOT_FOUND");
  assert(e.message.includes("is a folder"), e.message);
});
