/**
 * The generated `kernels/<name>_subgroups.wgsl` compile on this runtime's WGSL compiler. On a
 * device without `subgroups` (such as llvmpipe) the only errors allowed are the missing SUBGROUP
 * capability: parse and type errors read differently. That compiler stops at the first invalid
 * function, so each variant is also compiled with its subgroup operations emulated for a
 * subgroup of one lane (no capability needed), which must validate without any message.
 * On a device with `subgroups`, the variants themselves must compile without errors.
 */
import { assert, assertEquals } from "../_assert.ts";
import { ROOT } from "../_fixtures.ts";
import { acquireDevice, SUBGROUP_KERNELS } from "../../src/gpu/mod.ts";
import { SUBGROUP_LANE } from "../../bench/matmul_variants/subgroup_kernels.ts";
import { SeededRandom } from "../../src/model/mod.ts";
import { randomLayout, subgroupReduceSum } from "../reference/subgroup_reduce.ts";

const MISSING_CAPABILITY = /Capabilities\(SUBGROUP\)/;

async function errors(device: GPUDevice, code: string): Promise<string[]> {
  const module = device.createShaderModule({ code });
  const info = await module.getCompilationInfo();
  return info.messages.filter((m) => m.type === "error").map((m) => m.message);
}

function variant(name: string): Promise<string> {
  return Deno.readTextFile(`${ROOT}kernels/${name}_subgroups.wgsl`);
}

/**
 * The variant with subgroups of one lane: subgroupAdd(v) = v, subgroupMin(l) = l, and every
 * invocation is lane 0.
 * It uses no subgroup feature, so the whole module must validate on any device.
 */
function emulateOneLane(code: string): string {
  const param = `  @builtin(subgroup_invocation_id) ${SUBGROUP_LANE.param}: u32,\n`;
  const copy = `  ${SUBGROUP_LANE.private} = ${SUBGROUP_LANE.param};\n`;
  assert(code.includes(param) && code.includes(copy), "the variant's entry points changed shape");
  return code.replaceAll(param, "").replaceAll(copy, `  ${SUBGROUP_LANE.private} = 0u;\n`)
    .replaceAll("subgroupAdd(", "one_lane_add(").replaceAll("subgroupMin(", "one_lane_min(") +
    "\nfn one_lane_add(v: f32) -> f32 { return v; }\nfn one_lane_min(l: u32) -> u32 { return l; }\n";
}

Deno.test("each subgroup variant fails on a device without subgroups only for the missing capability", async () => {
  const device = await acquireDevice();
  for (const name of SUBGROUP_KERNELS) {
    const code = await variant(name);
    assert(code.includes("subgroupAdd("), `${name}_subgroups.wgsl uses no subgroupAdd`);
    assert(!/^enable /m.test(code), `${name}_subgroups.wgsl has an enable directive`);
    const errs = await errors(device, code);
    if (device.features.has("subgroups")) {
      assertEquals(errs, [], `${name}_subgroups.wgsl on a device with subgroups`);
    } else {
      assert(errs.length > 0, `${name}_subgroups.wgsl compiled without the subgroups feature`);
      for (const e of errs) assert(MISSING_CAPABILITY.test(e), `${name}_subgroups.wgsl: ${e}`);
    }
  }
});

Deno.test("each subgroup variant, emulated with one-lane subgroups, validates without a message", async () => {
  const device = await acquireDevice();
  for (const name of SUBGROUP_KERNELS) {
    const errs = await errors(device, emulateOneLane(await variant(name)));
    assertEquals(errs, [], `${name}_subgroups.wgsl (one-lane emulation)`);
  }
});

Deno.test("the capability check tells a type error from the missing capability", async () => {
  // A check that passes every error would pass a broken variant: break one on purpose.
  const device = await acquireDevice();
  const code = (await variant("layernorm_forward")).replace(
    "let part = subgroupAdd(v);",
    "let part = subgroupAdd(v) + 1u;",
  );
  const errs = await errors(device, code);
  assert(errs.length > 0, "a type error compiled");
  assert(errs.some((e) => !MISSING_CAPABILITY.test(e)), errs.join("\n"));
});

Deno.test("the reduction scheme sums any layout of 4- to 128-lane subgroups to the float64 sum", () => {
  const rand = new SeededRandom(3);
  for (const n of [64, 256]) { // the workgroups of the norms and prefix_backward, and of AdamW
    const v = new Float32Array(n).map(() => (rand.next() - 0.5) * 10 ** rand.int(4));
    const exact = v.reduce((a, b) => a + b, 0);
    const bound = 2 * n * 2 ** -24 * v.reduce((a, b) => a + Math.abs(b), 0);
    for (const size of [4, 8, 16, 32, 64, 128]) {
      for (let seed = 0; seed < 5; seed++) {
        const out = subgroupReduceSum(v, randomLayout(n, size, seed));
        for (const t of out) assertEquals(t, out[0], `n=${n} size=${size}: invocations disagree`);
        assert(
          Math.abs(out[0] - exact) <= bound,
          `n=${n} size=${size} seed=${seed}: ${out[0]} vs ${exact} (bound ${bound})`,
        );
      }
    }
  }
});

Deno.test("electing lane 0 instead of the lowest active lane loses a partly filled subgroup's sum", () => {
  // Why the kernels elect with subgroupMin: 64 invocations in a 128-lane subgroup, lane 0 idle.
  const v = new Float32Array(64).fill(1);
  const layout = {
    subgroup: new Int32Array(64),
    lane: new Int32Array(64).map((_, i) => 2 * i + 1),
  };
  assertEquals(subgroupReduceSum(v, layout)[0], 64);
  assertEquals(subgroupReduceSum(v, layout, "lane0")[0], 0);
});
