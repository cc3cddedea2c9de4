/**
 * The study's grid: prefix-tuning methods x prefix lengths x seeds, and the
 * names of its cells.
 *
 * @module
 */
import { PrefixEdgeError } from "../errors/mod.ts";
import type { Reparam } from "../prefix/mod.ts";

/** The methods compared. `none` is plain prefix tuning; `mlp` is Li & Liang's reparameterization. */
export type MethodName = "none" | "mlp" | "residual" | "mlp+gate" | "residual+gate";

/** Every method, in the order tables list them. */
export const METHODS: readonly MethodName[] = [
  "none",
  "mlp",
  "residual",
  "mlp+gate",
  "residual+gate",
];

/** The prefix module settings of each method. */
export const METHOD_SETTINGS: Readonly<Record<MethodName, { reparam: Reparam; gate: boolean }>> = {
  none: { reparam: "none", gate: false },
  mlp: { reparam: "mlp", gate: false },
  residual: { reparam: "residual", gate: false },
  "mlp+gate": { reparam: "mlp", gate: true },
  "residual+gate": { reparam: "residual", gate: true },
};

/** The study's default prefix lengths. */
export const DEFAULT_PREFIX_LENGTHS: readonly number[] = [1, 5, 10, 20, 50, 100];

/** One run of the grid. */
export interface GridCell {
  /** The method. */
  method: MethodName;
  /** P. */
  prefixLen: number;
  /** Seed of the prefix init and data order. */
  seed: number;
  /** Folder and task name: `residual-gate-p10-s1`. */
  id: string;
}

/**
 * Check method names.
 *
 * @param names e.g. `["none", "residual+gate"]`
 * @returns them, typed
 * @throws {PrefixEdgeError} `INVALID_INPUT` naming the accepted methods
 *
 * @example Duplicates collapse
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { checkMethods } from "./experiment_grid.ts";
 * assertEquals(checkMethods(["none", "none", "mlp+gate"]), ["none", "mlp+gate"]);
 * ```
 */
export function checkMethods(names: readonly string[]): MethodName[] {
  for (const n of names) {
    if (!(METHODS as readonly string[]).includes(n)) {
      throw new PrefixEdgeError(
        "INVALID_INPUT",
        `Cannot run method "${n}": expected ${METHODS.join(", ")}`,
      );
    }
  }
  if (names.length === 0) throw new PrefixEdgeError("INVALID_INPUT", "Cannot run an empty grid");
  return [...new Set(names)] as MethodName[];
}

/**
 * All cells, method-major, then prefix length, then seed.
 *
 * @param methods methods
 * @param prefixLens prefix lengths (positive integers)
 * @param seeds seeds (integers >= 0)
 * @returns the cells
 * @throws {PrefixEdgeError} `INVALID_INPUT` for a bad length or seed, or an empty list
 *
 * @example Two methods, two lengths, one seed
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { gridCells } from "./experiment_grid.ts";
 * assertEquals(gridCells(["none", "residual+gate"], [1, 10], [1]).map((c) => c.id), [
 *   "none-p1-s1", "none-p10-s1", "residual-gate-p1-s1", "residual-gate-p10-s1",
 * ]);
 * // ["none-p1-s1", "none-p10-s1", "residual-gate-p1-s1", "residual-gate-p10-s1"]
 * ```
 */
export function gridCells(
  methods: readonly MethodName[],
  prefixLens: readonly number[],
  seeds: readonly number[],
): GridCell[] {
  const ints = (xs: readonly number[], min: number, what: string) => {
    if (xs.length === 0 || xs.some((x) => !Number.isInteger(x) || x < min)) {
      throw new PrefixEdgeError(
        "INVALID_INPUT",
        `Cannot run the grid: ${what} must be integers >= ${min}, got ${JSON.stringify(xs)}`,
      );
    }
  };
  ints(prefixLens, 1, "prefix lengths");
  ints(seeds, 0, "seeds");
  checkMethods(methods);
  const cells: GridCell[] = [];
  for (const method of methods) {
    for (const prefixLen of [...new Set(prefixLens)]) {
      for (const seed of [...new Set(seeds)]) {
        cells.push({
          method,
          prefixLen,
          seed,
          id: `${method.replace("+", "-")}-p${prefixLen}-s${seed}`,
        });
      }
    }
  }
  return cells;
}
