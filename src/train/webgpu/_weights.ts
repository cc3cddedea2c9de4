/**
 * Reading a family's frozen weights from safetensors onto the GPU, with the tensor's name and
 * expected shape checked first.
 *
 * @module
 */
import { PrefixEdgeError } from "../../errors/mod.ts";
import type { SafetensorsFile, WeightSpec } from "../../model/mod.ts";
import type { GpuContext } from "../../gpu/mod.ts";

/**
 * One tensor as f32, after checking that it exists with the expected shape. GPT-2
 * checkpoints may omit the `transformer.` prefix, so that form is tried too.
 *
 * @throws {PrefixEdgeError} `SAFETENSORS_CORRUPT` for a missing or misshapen tensor
 */
export async function readWeight(
  st: SafetensorsFile,
  { name, shape }: WeightSpec,
): Promise<Float32Array> {
  const full = st.tensors.has(name) ? name : name.replace(/^transformer\./, "");
  const info = st.tensors.get(full);
  if (!info) {
    throw new PrefixEdgeError(
      "SAFETENSORS_CORRUPT",
      `Cannot load the weights from ${st.source}: tensor "${name}" is missing`,
    );
  }
  if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
    throw new PrefixEdgeError(
      "SAFETENSORS_CORRUPT",
      `Cannot load the weights from ${st.source}: "${full}" has shape [${info.shape}], expected [${shape}]`,
    );
  }
  return await st.getFloat32(full);
}

/**
 * Upload tensors, as stored, into one GPU buffer, one after the other (row-wise concatenation
 * of `[rows_i, cols]` matrices into `[sum rows_i, cols]`): Llama's q, k and v projections
 * become one `[Cq + 2D, C]` matrix, so one matmul computes all three.
 */
export async function uploadWeights(
  ctx: GpuContext,
  st: SafetensorsFile,
  ...parts: WeightSpec[]
): Promise<GPUBuffer> {
  const sizes = parts.map(({ shape }) => shape.reduce((a, b) => a * b, 1));
  const buf = ctx.buffer(4 * sizes.reduce((a, b) => a + b, 0), parts[0].name);
  let offset = 0;
  for (const [i, spec] of parts.entries()) {
    ctx.write(buf, await readWeight(st, spec), offset);
    offset += 4 * sizes[i];
  }
  return buf;
}
