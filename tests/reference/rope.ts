/**
 * CPU reference of kernels/rope_forward.wgsl (float64): HF rotate_half RoPE on the first
 * `heads` heads of each row, row r = b*T + t at position P + t; `inverse` rotates by -angle.
 * Angles come straight from theta (not from the f32 tables the kernel reads).
 */
export function rope(
  x: ArrayLike<number>,
  d: { rows: number; T: number; P: number; heads: number; hd: number; stride: number },
  theta: number,
  inverse = false,
): Float64Array {
  const y = Float64Array.from(x);
  const half = d.hd / 2;
  for (let r = 0; r < d.rows; r++) {
    const pos = d.P + (r % d.T);
    for (let h = 0; h < d.heads; h++) {
      for (let i = 0; i < half; i++) {
        const angle = pos * Math.pow(theta, -(2 * i) / d.hd);
        const c = Math.cos(angle), s = (inverse ? -1 : 1) * Math.sin(angle);
        const a = r * d.stride + h * d.hd + i;
        y[a] = x[a] * c - x[a + half] * s;
        y[a + half] = x[a + half] * c + x[a] * s;
      }
    }
  }
  return y;
}
