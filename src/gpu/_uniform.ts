import { PrefixEdgeError } from "../errors/mod.ts";

/**
 * Pack a kernel's uniform struct: one character per 32-bit word in `layout`
 * ("u" = u32, "i" = i32, "f" = f32), padded to a multiple of 16 bytes.
 *
 * @param layout word kinds, e.g. "uuuf"
 * @param values one number per word
 * @returns the struct's bytes
 */
export function packUniform(layout: string, values: number[]): ArrayBuffer {
  if (layout.length !== values.length) {
    throw new Error(`uniform layout "${layout}" has ${layout.length} words, got ${values.length}`);
  }
  const words = Math.ceil(layout.length / 4) * 4;
  const buf = new ArrayBuffer(words * 4);
  const view = new DataView(buf);
  for (let i = 0; i < layout.length; i++) {
    const v = values[i];
    if (layout[i] === "f") view.setFloat32(4 * i, v, true);
    else if (layout[i] === "i") view.setInt32(4 * i, v, true);
    else view.setUint32(4 * i, v, true);
  }
  return buf;
}

/** Ceiling division. */
export function cdiv(a: number, b: number): number {
  return Math.ceil(a / b);
}

/**
 * Refuse more rows than one dispatch axis holds (kernels that put a row per workgroup or
 * per grid row).
 *
 * @throws {PrefixEdgeError} `INVALID_INPUT` past 65535 rows
 */
export function checkDispatchRows(rows: number, what: string): void {
  if (rows > 65535) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      `Cannot run ${what}: ${rows} rows exceed the 65535 rows of one dispatch (use a smaller batch x length)`,
    );
  }
}
