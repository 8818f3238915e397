import { program } from '../src/dsl/program.js';
import { idiv } from '../src/ir/intexpr.js';
import type { Example } from './index.js';

/**
 * Y[m, n] = sum[k] X[m, k] * (f32(W[n, k]) * S[n, k / G]): int8 weights with one scale per group
 * of G input channels. The grouping reads as a split of k into (kg, ki), scaled by S[n, kg].
 */
export const int8Gemm: Example = {
  name: 'int8-gemm',
  description: 'GEMM with int8 weights W: [N, K] and per-group scales S: [N, K/G], X: [M, K]',
  dtypes: ['f32'],
  sizes: { M: 16, N: 4096, K: 4096, G: 128 },
  flops: (s) => 2 * s.M! * s.N! * s.K!,
  build: () =>
    program('int8_gemm', (p) => {
      const [M, N, K, G] = p.sizes('M', 'N', 'K', 'G');
      const groups = idiv(K, G);
      const x = p.input('X', 'f32', { m: M, k: K });
      const w = p.input('W', 'i8', { n: N, k: K });
      const s = p.input('S', 'f32', { n: N, kg: groups });
      const deq = w.cast('f32').split('k', { kg: groups, ki: G }).mul(s).merge(['kg', 'ki'], 'k');
      p.output('Y', x.mul(deq).sum('k'));
    }),
};

/** The same with 4-bit weights (u4, zero point 8), packed eight per u32 along K. */
export const int4Gemm: Example = {
  name: 'int4-gemm',
  description: 'GEMM with 4-bit weights W: u4 [N, K] (zero point 8) and per-group scales S: [N, K/G]',
  dtypes: ['f32'],
  sizes: { M: 16, N: 4096, K: 4096, G: 128 },
  flops: (s) => 2 * s.M! * s.N! * s.K!,
  build: () =>
    program('int4_gemm', (p) => {
      const [M, N, K, G] = p.sizes('M', 'N', 'K', 'G');
      const groups = idiv(K, G);
      const x = p.input('X', 'f32', { m: M, k: K });
      const w = p.input('W', 'u4', { n: N, k: K });
      const s = p.input('S', 'f32', { n: N, kg: groups });
      const deq = w.cast('f32').sub(8).split('k', { kg: groups, ki: G }).mul(s).merge(['kg', 'ki'], 'k');
      p.output('Y', x.mul(deq).sum('k'));
    }),
};
