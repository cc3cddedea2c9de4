/**
 * Reads a gpt2-tiny oracle case into a PrefixModule and its expected values.
 */
import { SafetensorsFile } from "../../src/model/mod.ts";
import { PARAM_NAMES, PrefixModule } from "../../src/prefix/mod.ts";
import type { LoadedModel } from "../../src/model/mod.ts";
import type { OracleCase } from "../_fixtures.ts";

/** One case: the module built from `param.*`, and the expected `grad.*` and `kv`. */
export interface LoadedCase {
  pm: PrefixModule;
  grads: Record<string, Float32Array>;
  kv: Float32Array;
}

/** Load `prefix-<name>.safetensors` of an oracle folder. */
export async function loadCase(
  dir: string,
  model: LoadedModel,
  c: OracleCase,
): Promise<LoadedCase> {
  const st = await SafetensorsFile.open(`${dir}/${c.file}`);
  try {
    const params: Record<string, Float32Array> = {};
    const grads: Record<string, Float32Array> = {};
    for (const name of PARAM_NAMES) {
      if (!st.tensors.has(`param.${name}`)) continue;
      params[name] = await st.getFloat32(`param.${name}`);
      grads[name] = await st.getFloat32(`grad.${name}`);
    }
    const pm = PrefixModule.fromParams(model.config, {
      prefixLen: c.prefix_len,
      reparam: c.reparam,
      gate: c.gate,
      midDim: c.mid_dim,
      params,
    });
    return { pm, grads, kv: await st.getFloat32("kv") };
  } finally {
    st.close();
  }
}
