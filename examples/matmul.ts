import { dot } from '../src/dsl/ops.js';
import { program } from '../src/dsl/program.js';
import type { Example } from './index.js';

/** C[m, n] = sum[k] A[m, k] * B[k, n]. */
export const matmul: Example = {
  name: 'matmul',
  description: 'GEMM C = A·B, A: [M, K], B: [K, N]',
  dtypes: ['f32', 'f16'],
  sizes: { M: 1024, N: 1024, K: 1024 },
  flops: (s) => 2 * s.M! * s.N! * s.K!,
  build: (dtype) =>
    program('matmul', (p) => {
      const [M, N, K] = p.sizes('M', 'N', 'K');
      const dt = dtype as 'f32' | 'f16';
      p.output('C', dot(p.input('A', dt, { m: M, k: K }), p.input('B', dt, { k: K, n: N }), 'k'));
    }),
};
