/**
 * WebGPU plumbing: the device, one context that owns pipelines and buffers,
 * and one small module per WGSL kernel in `kernels/`.
 *
 * @module
 */
export { acquireDevice, adapterFacts } from "./device.ts";
export {
  type AdapterFacts,
  chooseKernelSet,
  HARDWARE_MATMUL_TILE,
  HARDWARE_WORKGROUP_BYTES,
  KERNEL_SET_NAMES,
  type KernelDefaults,
  kernelEnv,
  kernelFile,
  type KernelSet,
  type KernelSetName,
  setKernelDefaults,
  SUBGROUP_KERNELS,
} from "./kernel_set.ts";
export {
  type BindingKind,
  type BufferRange,
  GpuContext,
  loadKernel,
  type PassTimes,
  setKernelBaseUrl,
} from "./gpu_context.ts";
export { MatmulXW, type MatmulXWArgs } from "./matmul_xw.ts";
export { MatmulXWt, type MatmulXWtArgs } from "./matmul_xwt.ts";
export { LayerNormBackward, LayerNormForward } from "./layernorm.ts";
export { GeluBackward, GeluForward } from "./gelu.ts";
export { EmbeddingForward } from "./embedding_forward.ts";
export {
  AttentionBackward,
  AttentionForward,
  type AttentionShape,
  MAX_HEAD_DIM,
} from "./attention.ts";
export { RmsNormBackward, RmsNormForward, type RmsNormLayout } from "./rmsnorm.ts";
export { BiasAdd } from "./bias_add.ts";
export { Rope, type RopeArgs } from "./rope.ts";
export { SwigluBackward, SwigluForward } from "./swiglu.ts";
export { CrossEntropyBackward, CrossEntropyForward } from "./cross_entropy.ts";
export { PrefixBackward, PrefixForward, type PrefixLayout } from "./prefix_kernels.ts";
export { type AdamWStepArgs, AdamWUpdate, NORM_PARTIALS } from "./adamw_update.ts";
