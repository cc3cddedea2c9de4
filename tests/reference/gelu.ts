/**
 * CPU reference of kernels/gelu_forward.wgsl and kernels/gelu_backward.wgsl (gelu_new, float64).
 */
const K0 = Math.sqrt(2 / Math.PI);

/** gelu_new(x) elementwise. */
export function geluForward(x: ArrayLike<number>): Float64Array {
  return Float64Array.from(x, (v) => 0.5 * v * (1 + Math.tanh(K0 * (v + 0.044715 * v ** 3))));
}

/** dy * gelu_new'(x) elementwise. */
export function geluBackward(x: ArrayLike<number>, dy: ArrayLike<number>): Float64Array {
  return Float64Array.from(x, (v, i) => {
    const t = Math.tanh(K0 * (v + 0.044715 * v ** 3));
    return dy[i] * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * K0 * (1 + 3 * 0.044715 * v * v));
  });
}
