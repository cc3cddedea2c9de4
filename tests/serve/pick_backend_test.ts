import { PrefixEdgeError } from "../../src/errors/mod.ts";
import { backendCandidates } from "../../src/serve/mod.ts";
import { assert, assertEquals, assertRejects } from "../_assert.ts";

const SOFTWARE = { available: true, hardware: false, description: "llvmpipe (LLVM 15)" };
const HARDWARE = { available: true, hardware: true, description: "NVIDIA H100" };
const NONE = { available: false, hardware: false, description: "no adapter" };

Deno.test("backendCandidates prefers hardware WebGPU, then native, then wasm", async () => {
  assertEquals((await backendCandidates("auto", HARDWARE)).map((c) => c.ep), [
    "webgpu",
    "native",
    "wasm",
  ]);
  assertEquals((await backendCandidates(undefined, NONE)).map((c) => c.ep), ["native", "wasm"]);
});

Deno.test("backendCandidates skips a software adapter and says why", async () => {
  const list = await backendCandidates("auto", SOFTWARE);
  assertEquals(list.map((c) => c.ep), ["native", "wasm"]);
  assert(list[0].reason.includes("software"), list[0].reason);
  assert(list[0].reason.includes("llvmpipe"), list[0].reason);
});

Deno.test("backendCandidates honours an explicit choice and refuses unknown names", async () => {
  assertEquals(await backendCandidates("wasm", HARDWARE), [
    { ep: "wasm", reason: "as requested" },
  ]);
  await assertRejects(
    () => backendCandidates("cuda", NONE),
    (e) => assert(e instanceof PrefixEdgeError && e.code === "INVALID_INPUT"),
  );
});
