import { dot, softmax } from '../src/dsl/ops.js';
import { program } from '../src/dsl/program.js';
import type { Example } from './index.js';

/** Exact attention O = softmax(Q·Kᵀ / sqrt(D))·V over batch and heads. */
export const attention: Example = {
  name: 'attention',
  description: 'exact attention softmax(Q·Kᵀ·scale)·V, Q: [B, H, N, D], K and V: [B, H, M, D]',
  dtypes: ['f32', 'f16'],
  sizes: { B: 1, H: 8, N: 512, M: 512, D: 64 },
  flops: (s) => 4 * s.B! * s.H! * s.N! * s.M! * s.D!,
  build: (dtype) =>
    program('attention', (p) => {
      const [B, H, N, M, D] = p.sizes('B', 'H', 'N', 'M', 'D');
      const dt = dtype as 'f32' | 'f16';
      const q = p.input('Q', dt, { b: B, h: H, i: N, d: D });
      const k = p.input('K', dt, { b: B, h: H, j: M, d: D });
      const v = p.input('V', dt, { b: B, h: H, j: M, e: D });
      const scores = dot(q, k, 'd').mul(p.value(D, dt).rsqrt());
      p.output('O', dot(softmax(scores, 'j'), v, 'j'), ['b', 'h', 'i', 'e']);
    }),
};
