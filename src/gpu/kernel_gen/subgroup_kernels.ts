/**
 * The generator of `kernels/<name>_subgroups.wgsl`: each kernel of `SUBGROUP_KERNELS`
 * (src/gpu/kernel_set.ts) with its workgroup-memory tree `reduce_sum` replaced by one built on
 * `subgroupAdd`. Everything else in the base kernel is kept as it is, so the variant has the
 * same entry points, bindings and dispatch; `deno task kernels` (shipped_kernels.ts) writes the
 * files and tests/gpu/shipped_kernels_test.ts checks that they equal this output.
 *
 * The subgroup `reduce_sum` assumes nothing about the subgroup size (4 to 128 lanes) or about
 * how lanes map to `local_invocation_index`: every subgroup adds its lanes with `subgroupAdd`,
 * its lowest active lane (`subgroupMin` of the lane ids: this compiler has no `subgroupElect`,
 * and nothing promises that lane 0 is active in a partly filled subgroup) writes that sum to
 * `red[lid]` while every other invocation writes 0, and after a barrier every invocation adds
 * all of `red` in index order, so all get the same total. A subgroup wider than the workgroup
 * is one partly filled subgroup, which is still correct.
 * Builtins reach only entry points, so each entry point that calls `reduce_sum` takes
 * `@builtin(subgroup_invocation_id)` and copies it to a module-scope `var<private>`.
 *
 * @module
 */

/** Names of the pieces the generator adds (tests that emulate the variant on CPU read them). */
export const SUBGROUP_LANE = { param: "sg_lane_in", private: "sg_lane" } as const;

const REDUCE_SUM = /^fn reduce_sum\((\w+): u32, (\w+): f32\) -> f32 \{\n[\s\S]*?\n\}\n/m;
const RED = /^var<workgroup> red: array<f32, (\d+)>;$/m;
const ENTRY = /^@compute @workgroup_size\((\d+)(?:, 1, 1)?\)\nfn (\w+)\((.*)\) \{\n/gm;

function header(name: string): string {
  return `// ${name}_subgroups: GENERATED from kernels/${name}.wgsl by
// src/gpu/kernel_gen/subgroup_kernels.ts (edit those, then run \`deno task kernels\`): the
// same kernel, bindings and dispatch, with reduce_sum on subgroup operations, and the entry
// points that call it given @builtin(subgroup_invocation_id). For devices with the \`subgroups\`
// feature: src/gpu/gpu_context.ts loads it instead of ${name}.wgsl on the hardware
// kernel set with PREFIX_EDGE_SUBGROUPS=1.
// No \`enable subgroups;\` directive: Deno's WGSL compiler (naga) rejects it ("not yet
// supported") and accepts the subgroup builtins without it; on a device without the feature
// the module fails validation ("Shader requires capability Capabilities(SUBGROUP)"). Tint, in
// browsers, requires the directive: add it there.
//
`;
}

function reduceSum(lid: string, v: string, size: number): string {
  return `// Subgroup reduction (generated). ${SUBGROUP_LANE.private}: this invocation's subgroup_invocation_id,
// set by the entry point. Each subgroup's lowest active lane writes the subgroup's sum (no
// subgroupElect in Deno's naga), every other invocation writes 0; then every invocation adds
// red[0..${size}) in index order, so all of them return the same total for any subgroup size
// and any lane layout. Callers are in uniform control flow, as subgroup operations and
// barriers require.
var<private> ${SUBGROUP_LANE.private}: u32;

fn reduce_sum(${lid}: u32, ${v}: f32) -> f32 {
  let part = subgroupAdd(${v});
  let writer = subgroupMin(${SUBGROUP_LANE.private});
  red[${lid}] = select(0.0, part, ${SUBGROUP_LANE.private} == writer);
  workgroupBarrier();
  var total = 0.0;
  for (var i = 0u; i < ${size}u; i++) { total += red[i]; }
  workgroupBarrier();
  return total;
}
`;
}

/**
 * The subgroup variant of one kernel.
 *
 * @param name the base kernel's name (for the header)
 * @param base the text of `kernels/<name>.wgsl`
 * @returns the text of `kernels/<name>_subgroups.wgsl`
 * @throws {Error} when the base kernel lacks the shape the generator rewrites: one
 * `fn reduce_sum(lid: u32, v: f32) -> f32`, `var<workgroup> red: array<f32, N>`, and every
 * entry point that calls `reduce_sum` one-dimensional with N invocations
 */
export function subgroupVariant(name: string, base: string): string {
  const red = base.match(RED);
  const reduce = base.match(REDUCE_SUM);
  if (!red || !reduce) {
    throw new Error(
      `Cannot generate ${name}_subgroups: kernels/${name}.wgsl needs "var<workgroup> red: array<f32, N>;" and "fn reduce_sum(lid: u32, v: f32) -> f32 { ... }"`,
    );
  }
  const size = Number(red[1]);
  let out = base.replace(REDUCE_SUM, reduceSum(reduce[1], reduce[2], size));
  let rewritten = 0;
  out = out.replace(ENTRY, (sig: string, wg: string, fn: string, params: string, at: number) => {
    const end = out.indexOf("\n}\n", at);
    if (!out.slice(at, end).includes("reduce_sum(")) return sig;
    if (Number(wg) !== size || !sig.startsWith(`@compute @workgroup_size(${wg}, 1, 1)`)) {
      throw new Error(
        `Cannot generate ${name}_subgroups: entry point ${fn} calls reduce_sum with workgroup size (${wg}), expected (${size}, 1, 1) to match red`,
      );
    }
    rewritten++;
    return `@compute @workgroup_size(${wg}, 1, 1)\nfn ${fn}(\n  ${
      params.replaceAll(", @builtin", ",\n  @builtin")
    },\n  @builtin(subgroup_invocation_id) ${SUBGROUP_LANE.param}: u32,\n) {\n  ${SUBGROUP_LANE.private} = ${SUBGROUP_LANE.param};\n`;
  });
  if (rewritten === 0) {
    throw new Error(`Cannot generate ${name}_subgroups: no entry point calls reduce_sum`);
  }
  return header(name) + out;
}

/**
 * The shipped subgroup variants, by file name in kernels/, from the base kernels there.
 *
 * @param names the base kernels (`SUBGROUP_KERNELS`)
 * @param read reads `kernels/<name>.wgsl`
 * @returns `{ "<name>_subgroups.wgsl": text }`
 */
export async function subgroupKernels(
  names: readonly string[],
  read: (name: string) => Promise<string>,
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of names) out[`${name}_subgroups.wgsl`] = subgroupVariant(name, await read(name));
  return out;
}
