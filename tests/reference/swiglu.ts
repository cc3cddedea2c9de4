/**
 * CPU reference of kernels/swiglu_forward.wgsl and kernels/swiglu_backward.wgsl (float64).
 * gu: [rows, 2F] (gate | up).
 */
const sigmoid = (a: number) => 1 / (1 + Math.exp(-a));

/** y[r, i] = silu(gate) * up. */
export function swigluForward(gu: ArrayLike<number>, rows: number, F: number): Float64Array {
  const y = new Float64Array(rows * F);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < F; i++) {
      const g = gu[r * 2 * F + i], u = gu[r * 2 * F + F + i];
      y[r * F + i] = g * sigmoid(g) * u;
    }
  }
  return y;
}

/** [d gate | d up] for gradient dy of y. */
export function swigluBackward(
  gu: ArrayLike<number>,
  dy: ArrayLike<number>,
  rows: number,
  F: number,
): Float64Array {
  const dgu = new Float64Array(rows * 2 * F);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < F; i++) {
      const g = gu[r * 2 * F + i], u = gu[r * 2 * F + F + i], d = dy[r * F + i];
      const s = sigmoid(g);
      dgu[r * 2 * F + i] = d * u * (s + g * s * (1 - s));
      dgu[r * 2 * F + F + i] = d * g * s;
    }
  }
  return dgu;
}
