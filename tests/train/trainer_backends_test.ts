/**
 * The trainer contract's suite (trainer.case.ts) on every backend: WebGPU with each kernel set,
 * ONNX Runtime native and WASM, and the CPU fake the loop tests use.
 */
import { PrefixTrainer } from "../../src/train/mod.ts";
import { OrtPrefixTrainer } from "../../src/train/mod.ts";
import { fakeTrainerFactory } from "./_fake_trainer.ts";
import { trainerSuite } from "./trainer.case.ts";

const NO_NATIVE = await import("onnxruntime-node").then(() => false, () => true);
const NO_GPU = !(await navigator.gpu?.requestAdapter());

for (const kernels of ["software", "hardware"] as const) {
  trainerSuite({
    name: `webgpu (${kernels} kernels)`,
    factory: (model, pm, size) => PrefixTrainer.create(model, pm, { ...size, kernels }),
    oracle: true,
    // float32 on a GPU over five steps; the ORT backends hold 1e-5.
    trajectoryTolerance: 1e-3,
    ignore: NO_GPU,
  });
}
for (const backend of ["native", "wasm"] as const) {
  trainerSuite({
    name: backend,
    factory: (model, pm, size) => OrtPrefixTrainer.create(model, pm, { ...size, backend }),
    oracle: true,
    ignore: backend === "native" && NO_NATIVE,
  });
}
trainerSuite({ name: "the CPU fake", factory: fakeTrainerFactory().factory, oracle: false });
