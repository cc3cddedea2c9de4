/**
 * Matmul kernel variants compared by `bench/matmul_bench.ts --variants`. Every variant has the
 * bindings of the shipped kernel of its kind (matmul_xw.wgsl, matmul_xwt.wgsl), so the bench
 * binds them all the same way. Each kernel names its operands by its own maths:
 *
 *   fwd: Y[M,N] = X[M,K] · W[K,N] (+ bias) (+ Y); 0 uniform {M,K,N,flags}, 1 x, 2 w, 3 bias, 4 y (rw)
 *   bwd: Y[M,N] = X[M,K] · W[N,K]ᵀ (+ Y);         0 uniform {M,N,K,flags}, 1 x, 2 w, 3 y (rw)
 *
 * The bench states a problem as (M, K, N) with Y[M,N] = X[M,K] · W[K,N], and times bwd as
 * that problem's input gradient dX[M,K] = dY[M,N] · W[K,N]ᵀ: it binds dY as x and dX as y,
 * and its uniform words (M, K, N) are the bwd kernel's (M, N, K), so {@link Variant.grid}
 * takes the bench's (M, K, N) for both kinds.
 *
 * `tiled` and `shipped` read kernels/ (see fromKernels). The `rb` ("register-blocked")
 * variants are generated below: no workgroup memory and no barriers; a workgroup of WG
 * invocations owns R output rows and WG·J output columns; invocation `lid` owns the R x J
 * outputs at rows m0 + r and columns c0 + lid + j·WG. The row operand X is addressed from
 * the workgroup id and the loop counter only, so its address is the same in all invocations
 * (which Mesa 22.3's llvmpipe does not exploit: every load is a per-lane loop); the column
 * operand (W) is read once per column per reduction step. Edges: the row and column indices
 * are clamped into range for the loads (no branches in the inner loop) and the stores are
 * bounds-checked, so any M, K, N >= 1 works. The `rb4` variants (vec4 loads) and `shipped`
 * need the reduction length K a multiple of 4, and for fwd N too (in the bench's terms: K
 * and N for fwd, N for bwd): pick such shapes for the comparison, or their outputs are
 * flagged as differing.
 *
 * @module
 */

/** One kernel to time. */
export interface Variant {
  /** Short name shown in the table. */
  name: string;
  /** fwd: Y = X·W; bwd: Y = X·Wᵀ (timed as the input gradient dX = dY·Wᵀ). */
  kind: "fwd" | "bwd";
  /** WGSL source. */
  code: string;
  /**
   * Workgroup counts for the bench's problem (M, K, N): output Y[M,N] (fwd) or dX[M,K] (bwd).
   */
  grid: (M: number, K: number, N: number) => [number, number];
}

/** Parameters of a generated register-blocked kernel. */
export interface RbParams {
  kind: "fwd" | "bwd";
  /** Invocations per workgroup (llvmpipe runs 8 f32 lanes per 256-bit vector). */
  WG: number;
  /** Output rows per workgroup (uniform across invocations). */
  R: number;
  /** Output columns per invocation (strided by WG). */
  J: number;
  /** Unroll of the reduction loop. */
  U: number;
  /** Use fma() instead of a * b + c. */
  fma: boolean;
  /**
   * Grouped unroll: load the operands of all U reduction steps first, then update each
   * accumulator once with a U-term sum (one accumulator load/store per U products when the
   * accumulators live on the stack).
   */
  grouped?: boolean;
}

const cdiv = (a: number, b: number) => Math.ceil(a / b);

/** Generate a register-blocked kernel (see the module comment). */
export function rb(p: RbParams): Variant {
  const { kind, WG, R, J, U } = p;
  const rows = [...Array(R).keys()];
  const cols = [...Array(J).keys()];
  const fwd = kind === "fwd";
  // Both kinds: X [M, K] is the row operand, K the reduction length, N the output columns.
  const acc = (r: number, j: number, a: string, b: string) =>
    p.fma ? `c${r}_${j} = fma(${a}, ${b}, c${r}_${j});` : `c${r}_${j} += ${a} * ${b};`;
  const step = (kExpr: string) => {
    const lines: string[] = [];
    // W: fwd reads W[k, col] (contiguous across invocations); bwd reads W[col, k] (stride K).
    for (const j of cols) {
      lines.push(
        fwd ? `let b${j} = w[${kExpr} * u.N + col${j}];` : `let b${j} = w[wrow${j} + ${kExpr}];`,
      );
    }
    for (const r of rows) {
      lines.push(`let a${r} = x[arow${r} + ${kExpr}];`);
      for (const j of cols) lines.push(acc(r, j, `a${r}`, `b${j}`));
    }
    return ["    {", ...lines.map((l) => "      " + l), "    }"].join("\n");
  };
  const kx = (i: number) => (i === 0 ? "k" : `(k + ${i}u)`);
  const groupedStep = () => {
    const lines: string[] = [];
    for (let i = 0; i < U; i++) {
      for (const j of cols) {
        lines.push(
          fwd
            ? `let b${j}_${i} = w[${kx(i)} * u.N + col${j}];`
            : `let b${j}_${i} = w[wrow${j} + ${kx(i)}];`,
        );
      }
      for (const r of rows) lines.push(`let a${r}_${i} = x[arow${r} + ${kx(i)}];`);
    }
    for (const r of rows) {
      for (const j of cols) {
        const terms = [...Array(U).keys()].map((i) => `a${r}_${i} * b${j}_${i}`).join(" + ");
        lines.push(`c${r}_${j} += ${terms};`);
      }
    }
    return ["    {", ...lines.map((l) => "      " + l), "    }"].join("\n");
  };
  const unrolled = p.grouped
    ? groupedStep()
    : [...Array(U).keys()].map((i) => step(kx(i))).join("\n");
  const header = fwd
    ? `struct Uniforms { M: u32, K: u32, N: u32, flags: u32 }
@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;`
    : `struct Uniforms { M: u32, N: u32, K: u32, flags: u32 }
@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;`;
  const storeFn = fwd
    ? `fn store1(gm: u32, gn: u32, v: f32) {
  if (gm >= u.M || gn >= u.N) { return; }
  var o = v;
  if ((u.flags & 1u) != 0u) { o += bias[gn]; }
  let i = gm * u.N + gn;
  if ((u.flags & 2u) != 0u) { o += y[i]; }
  y[i] = o;
}`
    : `fn store1(gm: u32, gn: u32, v: f32) {
  if (gm >= u.M || gn >= u.N) { return; }
  var o = v;
  let i = gm * u.N + gn;
  if ((u.flags & 2u) != 0u) { o += y[i]; }
  y[i] = o;
}`;
  const code = `// generated: rb ${kind} WG=${WG} R=${R} J=${J} U=${U} fma=${p.fma}
${header}

@compute @workgroup_size(${WG}, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let m0 = wg.y * ${R}u;
  let c0 = wg.x * ${WG * J}u;
${rows.map((r) => `  let arow${r} = min(m0 + ${r}u, u.M - 1u) * u.K;`).join("\n")}
${cols.map((j) => `  let col${j} = min(c0 + lid + ${j * WG}u, u.N - 1u);`).join("\n")}
${fwd ? "" : cols.map((j) => `  let wrow${j} = col${j} * u.K;`).join("\n")}
${rows.flatMap((r) => cols.map((j) => `  var c${r}_${j} = 0.0;`)).join("\n")}
  var k = 0u;
  for (; k + ${U}u <= u.K; k += ${U}u) {
${unrolled}
  }
  for (; k < u.K; k++) {
${step("k")}
  }
${
    rows.flatMap((r) => cols.map((j) => `  store1(m0 + ${r}u, c0 + lid + ${j * WG}u, c${r}_${j});`))
      .join("\n")
  }
}

${storeFn}
`;
  return {
    name: `rb ${kind} wg${WG} ${R}x${J}${U > 1 ? ` u${U}` : ""}${p.grouped ? "g" : ""}${
      p.fma ? " fma" : ""
    }`,
    kind,
    code,
    grid: (M, K, N) => [cdiv(fwd ? N : K, WG * J), cdiv(M, R)],
  };
}

/**
 * A kernel read from kernels/: `tiled` is matmul_{xw,xwt}_unaligned.wgsl (the 64x64
 * workgroup-memory kernel shipped before, now the fallback for unaligned shapes: the baseline
 * of every ratio), `shipped` is matmul_{xw,xwt}.wgsl (fwd, bwd).
 */
export async function fromKernels(
  which: "tiled" | "shipped",
  kind: "fwd" | "bwd",
): Promise<Variant> {
  const file = (kind === "fwd" ? "matmul_xw" : "matmul_xwt") +
    (which === "tiled" ? "_unaligned" : "");
  const code = await Deno.readTextFile(new URL(`../../../kernels/${file}.wgsl`, import.meta.url));
  const tiled = which === "tiled";
  return {
    name: `${which} ${kind}`,
    kind,
    code,
    grid: (M, K, N) => {
      const cols = kind === "fwd" ? N : K;
      if (tiled) return [cdiv(cols, 64), cdiv(M, 64)];
      return [cdiv(cols, 128), cdiv(M, kind === "fwd" ? 32 : 16)];
    },
  };
}

/** The variants timed by `bench/matmul_bench.ts --variants` (filtered by name substrings). */
export async function benchVariants(only: string[], extra: string[] = []): Promise<Variant[]> {
  const all: Variant[] = [];
  for (const kind of ["fwd", "bwd"] as const) {
    all.push(await fromKernels("tiled", kind), await fromKernels("shipped", kind));
  }
  // The default comparison: the register-blocked kernels with scalar loads at the block sizes
  // that did best, and the vec4-load ones the shipped kernels were written from. Other block
  // sizes: --extra fwd:WG:R:J:U[:fma|:g] or v4fwd:WG:R:J:1 (see parseRb).
  all.push(rb({ kind: "fwd", WG: 8, R: 32, J: 16, U: 1, fma: false }));
  all.push(rb({ kind: "bwd", WG: 8, R: 32, J: 16, U: 1, fma: false }));
  all.push(rb4({ kind: "fwd", WG: 8, R: 16, J: 4, U: 1, fma: false }));
  all.push(rb4({ kind: "fwd", WG: 8, R: 16, J: 4, U: 1, fma: false, grouped: true }));
  all.push(rb4({ kind: "fwd", WG: 8, R: 32, J: 4, U: 1, fma: false, grouped: true }));
  all.push(rb4({ kind: "bwd", WG: 8, R: 16, J: 16, U: 1, fma: false }));
  const kept = only.length ? all.filter((v) => only.some((o) => v.name.includes(o))) : all;
  return [...kept, ...extra.map(parseRb)];
}

/** Parse "fwd:WG:R:J:U[:fma]" (or "v4fwd:..." for rb4) into a generated variant. */
export function parseRb(spec: string): Variant {
  const [kind0, WG, R, J, U, f] = spec.split(":");
  const v4 = kind0.startsWith("v4");
  const kind = v4 ? kind0.slice(2) : kind0;
  return (v4 ? rb4 : rb)({
    kind: kind as "fwd" | "bwd",
    WG: Number(WG),
    R: Number(R),
    J: Number(J),
    U: Number(U),
    fma: f === "fma",
    grouped: f === "g",
  });
}

/**
 * The register-blocked kernel with vec4 loads (both operands bound as array<vec4<f32>>), for
 * shapes whose reduction length is a multiple of 4 (and, for fwd, N too). llvmpipe runs each
 * load as a loop over the 8 lanes, and a vec4 load fetches 4 values in one such loop.
 * fwd: invocation `lid` owns R rows x J column quads (columns 4·(c0q + lid + j·WG) + 0..3),
 * R·J vec4 accumulators; per 4 reduction steps it loads R vec4 of X and 4·J vec4 of W.
 * bwd: invocation `lid` owns R rows x J columns, R·J scalar accumulators; per 4 reduction
 * steps it loads R vec4 of X and J vec4 of W.
 */
export function rb4(p: RbParams): Variant {
  const { kind, WG, R, J } = p;
  const rows = [...Array(R).keys()];
  const cols = [...Array(J).keys()];
  const fwd = kind === "fwd";
  const lines: string[] = [];
  if (fwd) {
    lines.push(`struct Uniforms { M: u32, K: u32, N: u32, flags: u32 }
@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(${WG}, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let K4 = u.K / 4u;
  let N4 = u.N / 4u;
  let m0 = wg.y * ${R}u;
  let qb = wg.x * ${WG * J}u;`);
    for (const r of rows) lines.push(`  let arow${r} = min(m0 + ${r}u, u.M - 1u) * K4;`);
    for (const j of cols) lines.push(`  let q${j} = min(qb + lid + ${j * WG}u, N4 - 1u);`);
    for (const r of rows) for (const j of cols) lines.push(`  var c${r}_${j} = vec4<f32>(0.0);`);
    lines.push(`  for (var k4 = 0u; k4 < K4; k4++) {`);
    for (const r of rows) lines.push(`    let a${r} = x[arow${r} + k4];`);
    lines.push(`    var wr = k4 * 4u * N4;`);
    if (p.grouped) {
      // All 4 rows of W first, then one 4-term update per accumulator.
      for (let kk = 0; kk < 4; kk++) {
        for (const j of cols) lines.push(`    let b${j}_${kk} = w[wr + ${kk}u * N4 + q${j}];`);
      }
      for (const r of rows) {
        for (const j of cols) {
          lines.push(
            `    c${r}_${j} += a${r}.x * b${j}_0 + a${r}.y * b${j}_1 + a${r}.z * b${j}_2 + a${r}.w * b${j}_3;`,
          );
        }
      }
    }
    for (const kk of p.grouped ? [] : ["x", "y", "z", "w"]) {
      lines.push(`    {`);
      for (const j of cols) lines.push(`      let b${j} = w[wr + q${j}];`);
      for (const r of rows) {
        for (const j of cols) lines.push(`      c${r}_${j} += a${r}.${kk} * b${j};`);
      }
      lines.push(`    }`, `    wr += N4;`);
    }
    lines.push(`  }`);
    for (const r of rows) {
      for (const j of cols) {
        lines.push(`  store4(m0 + ${r}u, (qb + lid + ${j * WG}u) * 4u, c${r}_${j});`);
      }
    }
    lines.push(`}

fn store4(gm: u32, gn0: u32, v: vec4<f32>) {
  if (gm >= u.M) { return; }
  for (var c = 0u; c < 4u; c++) {
    let gn = gn0 + c;
    if (gn >= u.N) { return; }
    var o = v[c];
    if ((u.flags & 1u) != 0u) { o += bias[gn]; }
    let i = gm * u.N + gn;
    if ((u.flags & 2u) != 0u) { o += y[i]; }
    y[i] = o;
  }
}`);
  } else {
    lines.push(`struct Uniforms { M: u32, N: u32, K: u32, flags: u32 }
@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(${WG}, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let K4 = u.K / 4u;
  let m0 = wg.y * ${R}u;
  let n0 = wg.x * ${WG * J}u;`);
    for (const r of rows) lines.push(`  let arow${r} = min(m0 + ${r}u, u.M - 1u) * K4;`);
    for (const j of cols) lines.push(`  let wrow${j} = min(n0 + lid + ${j * WG}u, u.N - 1u) * K4;`);
    for (const r of rows) for (const j of cols) lines.push(`  var c${r}_${j} = 0.0;`);
    lines.push(`  for (var k4 = 0u; k4 < K4; k4++) {`);
    for (const j of cols) lines.push(`    let b${j} = w[wrow${j} + k4];`);
    for (const r of rows) {
      lines.push(`    let a${r} = x[arow${r} + k4];`);
      for (const j of cols) {
        lines.push(
          `    c${r}_${j} += a${r}.x * b${j}.x + a${r}.y * b${j}.y + a${r}.z * b${j}.z + a${r}.w * b${j}.w;`,
        );
      }
    }
    lines.push(`  }`);
    for (const r of rows) {
      for (const j of cols) lines.push(`  store1(m0 + ${r}u, n0 + lid + ${j * WG}u, c${r}_${j});`);
    }
    lines.push(`}

fn store1(gm: u32, gn: u32, v: f32) {
  if (gm >= u.M || gn >= u.N) { return; }
  var o = v;
  let i = gm * u.N + gn;
  if ((u.flags & 2u) != 0u) { o += y[i]; }
  y[i] = o;
}`);
  }
  return {
    name: `rb4 ${kind} wg${WG} ${R}x${J}${p.grouped ? " g" : ""}`,
    kind,
    code:
      `// generated: rb4 ${kind} WG=${WG} R=${R} J=${J} (vec4 loads; ${
        fwd ? "K, N multiples" : "K a multiple"
      } of 4)\n` + lines.join("\n") + "\n",
    grid: (M, K, N) => [fwd ? cdiv(cdiv(N, 4), WG * J) : cdiv(K, WG * J), cdiv(M, R)],
  };
}
