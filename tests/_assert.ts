/**
 * The assertions tests use. `@std/assert` lives on JSR, which the project's
 * registries do not reach, so this wraps Node's built-in `node:assert`
 * (deep equality, throws/rejects) in the std names and signatures.
 */
import nodeAssert from "node:assert";

/** Fails unless `cond` is truthy. */
export function assert(cond: unknown, msg?: string): asserts cond {
  nodeAssert.ok(cond, msg ?? "assertion failed");
}

/** Deep strict equality. */
export function assertEquals<T>(actual: unknown, expected: T, msg?: string): asserts actual is T {
  if (msg === undefined) nodeAssert.deepStrictEqual(actual, expected);
  else nodeAssert.deepStrictEqual(actual, expected, msg);
}

/** |actual - expected| <= tolerance. */
export function assertAlmostEquals(
  actual: number,
  expected: number,
  tolerance = 1e-7,
  msg?: string,
) {
  if (!(Math.abs(actual - expected) <= tolerance)) {
    throw new nodeAssert.AssertionError({
      message: msg ?? `expected ${actual} to be within ${tolerance} of ${expected}`,
      actual,
      expected,
    });
  }
}

/** Calls `fn`, expects it to throw, runs `check` on the error and returns it. */
export function assertThrows(fn: () => unknown, check?: (e: unknown) => void): unknown {
  try {
    fn();
  } catch (e) {
    check?.(e);
    return e;
  }
  throw new nodeAssert.AssertionError({ message: "expected the function to throw" });
}

/** Awaits `fn`, expects it to reject, runs `check` on the error and returns it. */
export async function assertRejects(
  fn: () => Promise<unknown>,
  check?: (e: unknown) => void,
): Promise<unknown> {
  try {
    await fn();
  } catch (e) {
    check?.(e);
    return e;
  }
  throw new nodeAssert.AssertionError({ message: "expected the promise to reject" });
}
