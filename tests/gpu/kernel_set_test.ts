/** The kernel set is chosen from the adapter, forced by PREFIX_EDGE_KERNELS, and refused when wrong. */
import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { PrefixEdgeError } from "../../src/errors/mod.ts";
import {
  type AdapterFacts,
  chooseKernelSet,
  GpuContext,
  HARDWARE_WORKGROUP_BYTES,
  kernelFile,
  setKernelDefaults,
  SUBGROUP_KERNELS,
} from "../../src/gpu/mod.ts";

const gpu: AdapterFacts = {
  isFallbackAdapter: false,
  vendor: "nvidia",
  architecture: "hopper",
  device: "",
  description: "NVIDIA H100",
  features: ["timestamp-query", "shader-f16", "subgroups"],
  maxComputeInvocationsPerWorkgroup: 1024,
  maxComputeWorkgroupStorageSize: 49152,
};
const llvmpipe: AdapterFacts = {
  ...gpu,
  vendor: "mesa",
  architecture: "",
  description: "llvmpipe (LLVM 15.0.6, 256 bits)",
  features: ["timestamp-query"],
};

function code(c: string) {
  return (e: unknown) => {
    assert(e instanceof PrefixEdgeError, `expected a PrefixEdgeError, got ${e}`);
    assertEquals(e.code, c, e.message);
    assert(e.message.startsWith("Cannot "), e.message);
  };
}

Deno.test("chooseKernelSet picks hardware for a GPU and software for CPU adapters", () => {
  assertEquals(chooseKernelSet(gpu).name, "hardware");
  assertEquals(chooseKernelSet(llvmpipe).name, "software");
  assertEquals(chooseKernelSet({ ...gpu, isFallbackAdapter: true }).name, "software");
  assertEquals(chooseKernelSet({ ...gpu, description: "SwiftShader Device" }).name, "software");
  // A GPU whose limits cannot hold a 256-invocation workgroup keeps the software kernels.
  assertEquals(
    chooseKernelSet({ ...gpu, maxComputeInvocationsPerWorkgroup: 128 }).name,
    "software",
  );
  // WebGPU's default 16 KiB of workgroup memory is short of the attention tiles.
  assertEquals(chooseKernelSet({ ...gpu, maxComputeWorkgroupStorageSize: 16384 }).name, "software");
  assertEquals(
    chooseKernelSet({ ...gpu, maxComputeWorkgroupStorageSize: HARDWARE_WORKGROUP_BYTES }).name,
    "hardware",
  );
});

Deno.test("chooseKernelSet obeys a forced name and refuses unknown names and unfit adapters", () => {
  assertEquals(chooseKernelSet(llvmpipe, "hardware").name, "hardware");
  assertEquals(chooseKernelSet(gpu, "software").name, "software");
  assertEquals(chooseKernelSet(gpu, "").name, "hardware");
  assertThrows(() => chooseKernelSet(gpu, "fast"), code("INVALID_INPUT"));
  const small = { ...gpu, maxComputeWorkgroupStorageSize: 8192 };
  assertThrows(() => chooseKernelSet(small, "hardware"), code("GPU_UNAVAILABLE"));
});

Deno.test("f16 matmuls are on only when asked for, on the hardware set, with shader-f16", () => {
  assertEquals(chooseKernelSet(gpu).f16, false);
  assertEquals(chooseKernelSet(gpu, undefined, "1").f16, true);
  assertEquals(chooseKernelSet(gpu, "software", "1").f16, false);
  assertEquals(chooseKernelSet({ ...gpu, features: [] }, undefined, "1").f16, false);
});

Deno.test("subgroup reductions are on only with the hardware set, the subgroups feature and PREFIX_EDGE_SUBGROUPS=1", () => {
  const noSubgroups = { ...gpu, features: ["timestamp-query", "shader-f16"] };
  const cases: [string, AdapterFacts, string | undefined, string | undefined, boolean][] = [
    ["GPU, opted in", gpu, undefined, "1", true],
    ["GPU, forced hardware, opted in", gpu, "hardware", "1", true],
    ["GPU, not opted in", gpu, undefined, undefined, false],
    ["GPU, opted out", gpu, undefined, "0", false],
    ["GPU, other value", gpu, undefined, "true", false],
    ["GPU, forced software, opted in", gpu, "software", "1", false],
    ["GPU without subgroups, opted in", noSubgroups, undefined, "1", false],
    ["llvmpipe, opted in", llvmpipe, undefined, "1", false],
    ["llvmpipe forced hardware, opted in", llvmpipe, "hardware", "1", false],
    [
      "llvmpipe with subgroups, opted in",
      { ...llvmpipe, features: ["subgroups"] },
      undefined,
      "1",
      false,
    ],
  ];
  for (const [what, facts, force, opt, want] of cases) {
    assertEquals(chooseKernelSet(facts, force, undefined, opt).subgroups, want, what);
  }
  // The two opt-ins are independent.
  assertEquals(chooseKernelSet(gpu, undefined, "1", undefined).subgroups, false);
  assertEquals(chooseKernelSet(gpu, undefined, undefined, "1").f16, false);
});

Deno.test("kernelFile loads the _subgroups variant only for listed kernels of a hardware set with subgroups", () => {
  const on = chooseKernelSet(gpu, undefined, undefined, "1");
  const off = chooseKernelSet(gpu);
  assertEquals(SUBGROUP_KERNELS.length, 6);
  for (const name of SUBGROUP_KERNELS) {
    assertEquals(kernelFile(on, name), `${name}_subgroups`);
    assertEquals(kernelFile(off, name), name);
    assertEquals(kernelFile({ ...on, name: "software" }, name), name);
  }
  for (const name of ["matmul_xw", "cross_entropy_forward", "attention_forward"]) {
    assertEquals(kernelFile(on, name), name);
  }
});

Deno.test("GpuContext reads PREFIX_EDGE_SUBGROUPS and its pipelines load the subgroup variants", async () => {
  const before = Deno.env.get("PREFIX_EDGE_SUBGROUPS");
  const layout = ["uniform", "read", "read", "read", "rw", "rw"] as const;
  try {
    Deno.env.set("PREFIX_EDGE_SUBGROUPS", "1");
    const ctx = await GpuContext.create({ kernels: "hardware" });
    const offers = ctx.device.features.has("subgroups");
    try {
      assertEquals(ctx.kernelSet.subgroups, offers);
      // The base kernel compiles either way when subgroups are off.
      ctx.kernelSet.subgroups = false;
      await ctx.pipeline("layernorm_forward", "main", [...layout]);
      // With subgroups on, the context loads layernorm_forward_subgroups.wgsl: on a device
      // without the feature that compile fails, and the error names the file.
      ctx.kernelSet.subgroups = true;
      const variant = ctx.pipeline("rmsnorm_forward", "main", [
        "uniform",
        "read",
        "read",
        "rw",
        "rw",
      ]);
      if (offers) await variant;
      else {
        await variant.then(
          () => assert(false, "a subgroup kernel compiled on a device without subgroups"),
          (e) => {
            code("GPU_UNAVAILABLE")(e);
            assert((e as Error).message.includes("rmsnorm_forward_subgroups.wgsl"), String(e));
          },
        );
      }
    } finally {
      ctx.destroy();
    }
  } finally {
    if (before === undefined) Deno.env.delete("PREFIX_EDGE_SUBGROUPS");
    else Deno.env.set("PREFIX_EDGE_SUBGROUPS", before);
  }
});

Deno.test("GpuContext takes its kernel set from PREFIX_EDGE_KERNELS, and a caller's choice wins", async () => {
  const before = Deno.env.get("PREFIX_EDGE_KERNELS");
  try {
    Deno.env.set("PREFIX_EDGE_KERNELS", "hardware");
    const hw = await GpuContext.create();
    assertEquals(hw.kernelSet.name, "hardware");
    assertEquals(hw.kernelSet.reason, "forced by PREFIX_EDGE_KERNELS");
    hw.destroy();
    const sw = await GpuContext.create({ kernels: "software" });
    assertEquals(sw.kernelSet.name, "software");
    sw.destroy();
    // A page's stand-in for the variable wins over it, and says so.
    setKernelDefaults({ kernels: "software" });
    try {
      const page = await GpuContext.create();
      assertEquals([page.kernelSet.name, page.kernelSet.reason], [
        "software",
        "forced by setKernelDefaults",
      ]);
      page.destroy();
    } finally {
      setKernelDefaults({});
    }
    Deno.env.set("PREFIX_EDGE_KERNELS", "turbo");
    await GpuContext.create().then(
      () => assert(false, "an unknown PREFIX_EDGE_KERNELS was accepted"),
      code("INVALID_INPUT"),
    );
  } finally {
    if (before === undefined) Deno.env.delete("PREFIX_EDGE_KERNELS");
    else Deno.env.set("PREFIX_EDGE_KERNELS", before);
  }
});

Deno.test("a binding larger than the adapter allows is refused by name, not run as garbage", async () => {
  const ctx = await GpuContext.create();
  try {
    const max = ctx.maxBinding;
    const big = ctx.buffer(max + 16, "too.big");
    const pipeline = await ctx.pipeline("bias_add", "main", ["uniform", "read", "rw"]);
    const u = ctx.uniform(new Uint32Array([1, 1, 0, 0]).buffer);
    const small = ctx.buffer(16, "small");
    const err = (() => {
      try {
        ctx.bindGroup(pipeline, [u, small, big]);
      } catch (e) {
        return e;
      }
    })();
    assert(err instanceof PrefixEdgeError && err.code === "GPU_UNAVAILABLE", String(err));
    assert(err.message.includes("too.big"), err.message);
    // A range inside the limit binds.
    ctx.bindGroup(pipeline, [u, small, { buffer: big, offset: 0, size: 16 }]);
  } finally {
    ctx.destroy();
  }
});
