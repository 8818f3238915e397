import { dot, softmax } from '../src/dsl/ops.js';
import { program } from '../src/dsl/program.js';
import type { Example } from './index.js';

/**
 * Decoding attention: one new query per head against a KV cache of M keys, M given at each run
 * (up to 8192) while the cache is laid out at the bound. Written as plain softmax·V; the compiler
 * streams it as one fold over the cache, so the M scores per head are never stored.
 */
export const decodeAttention: Example = {
  name: 'decode-attention',
  description: 'one query per head against a KV cache of dynamic length M <= 8192: softmax(q·Kᵀ·scale)·V, q: [B, H, D]',
  dtypes: ['f32', 'f16'],
  sizes: { B: 1, H: 32, M: 8192, D: 128 },
  flops: (s) => 4 * s.B! * s.H! * s.M! * s.D!,
  build: (dtype) =>
    program('decode_attention', (p) => {
      const [B, H] = p.sizes('B', 'H');
      const M = p.dynamicSize('M', { max: 8192 });
      const D = p.size('D');
      const dt = dtype as 'f32' | 'f16';
      const q = p.input('Q', dt, { b: B, h: H, d: D });
      const k = p.input('K', dt, { b: B, h: H, j: M, d: D });
      const v = p.input('V', dt, { b: B, h: H, j: M, e: D });
      const scores = dot(q, k, 'd').mul(p.value(D, dt).rsqrt());
      p.output('O', dot(softmax(scores, 'j'), v, 'j'), ['b', 'h', 'e']);
    }),
};
