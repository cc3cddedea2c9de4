/**
 * The generated `kernels/<name>_subgroups.wgsl` compile on this runtime's WGSL compiler. On a
 * device without `subgroups` (such as llvmpipe) the only errors allowed are the missing SUBGROUP
 * capability: parse and type errors read differently. That compiler stops at the first invalid
 * function, so each variant is also compiled with its subgroup operations emulated for a
 * subgroup of one lane (no capability needed), which must validate without any message.
 * On a device with `subgroups`, the variants themselves must compile without errors.
 */
import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { ROOT } from "../_fixtures.ts";
import { acquireDevice, SUBGROUP_KERNELS } from "../../src/gpu/mod.ts";
import { SUBGROUP_LANE, subgroupVariant } from "../../src/gpu/kernel_gen/subgroup_kernels.ts";
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

/** Run one entry point on fresh buffers: a uniform, read-only inputs, then zeroed outputs. */
async function run(
  device: GPUDevice,
  code: string,
  workgroups: number,
  uniform: ArrayBuffer,
  inputs: Float32Array[],
  outputLengths: number[],
): Promise<Float32Array[]> {
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const u = device.createBuffer({
    size: 16,
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
  });
  device.queue.writeBuffer(u, 0, uniform);
  const ins = inputs.map((data) => {
    const b = device.createBuffer({ size: data.byteLength, usage });
    device.queue.writeBuffer(b, 0, new Float32Array(data));
    return b;
  });
  const outs = outputLengths.map((n) => device.createBuffer({ size: n * 4, usage }));
  const reads = outputLengths.map((n) =>
    device.createBuffer({ size: n * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST })
  );
  const pipeline = await device.createComputePipelineAsync({
    layout: "auto",
    compute: { module: device.createShaderModule({ code }), entryPoint: "main" },
  });
  const bind = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [u, ...ins, ...outs].map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bind);
  pass.dispatchWorkgroups(workgroups);
  pass.end();
  outs.forEach((b, i) => enc.copyBufferToBuffer(b, 0, reads[i], 0, b.size));
  device.queue.submit([enc.finish()]);
  const result = [];
  for (const r of reads) {
    await r.mapAsync(GPUMapMode.READ);
    result.push(new Float32Array(r.getMappedRange().slice(0)));
  }
  for (const b of [u, ...ins, ...outs, ...reads]) b.destroy();
  return result;
}

Deno.test("layernorm_forward's variant, emulated with one-lane subgroups, computes what the base kernel does", async () => {
  // Checks the generated plumbing (the entry point's lane copy, the writer, the index-order
  // sum) numerically where no device has subgroups; the real subgroupAdd runs on a GPU only.
  const device = await acquireDevice();
  const rand = new SeededRandom(5);
  const rows = 3, C = 150; // C not a multiple of 64: invocations with uneven shares
  const x = rand.normals(rows * C, 2).map((v, i) => v + (i % 7));
  const weight = rand.normals(C, 1), bias = rand.normals(C, 1);
  const uniform = new ArrayBuffer(16);
  new Uint32Array(uniform, 0, 2).set([rows, C]);
  new Float32Array(uniform, 8, 1)[0] = 1e-5;
  const base = await Deno.readTextFile(`${ROOT}kernels/layernorm_forward.wgsl`);
  const emulated = emulateOneLane(await variant("layernorm_forward"));
  const inputs = [x, weight, bias], outputs = [rows * C, rows * 2];
  const [yBase, statsBase] = await run(device, base, rows, uniform, inputs, outputs);
  const [ySub, statsSub] = await run(device, emulated, rows, uniform, inputs, outputs);
  for (const [got, want, what] of [[ySub, yBase, "y"], [statsSub, statsBase, "stats"]] as const) {
    let worst = 0;
    for (let i = 0; i < want.length; i++) {
      worst = Math.max(worst, Math.abs(got[i] - want[i]) / (1e-3 + Math.abs(want[i])));
    }
    assert(worst < 1e-5, `${what}: relative difference ${worst}`);
  }
  assert(statsBase.some((v) => v !== 0), "the base kernel wrote nothing");
});

function says(text: string) {
  return (e: unknown) => assert(e instanceof Error && e.message.includes(text), String(e));
}

Deno.test("the generator refuses a kernel whose reduction it cannot rewrite", async () => {
  const base = await Deno.readTextFile(`${ROOT}kernels/rmsnorm_forward.wgsl`);
  assertEquals(subgroupVariant("rmsnorm_forward", base), await variant("rmsnorm_forward"));
  // No reduce_sum (cross_entropy_forward reduces inline).
  const ce = await Deno.readTextFile(`${ROOT}kernels/cross_entropy_forward.wgsl`);
  assertThrows(() => subgroupVariant("cross_entropy_forward", ce), says("reduce_sum"));
  // A workgroup that does not match red's length: the index-order sum would miss entries.
  const wide = base.replace("@workgroup_size(64, 1, 1)", "@workgroup_size(128, 1, 1)");
  assertThrows(() => subgroupVariant("rmsnorm_forward", wide), says("workgroup size (128)"));
});
