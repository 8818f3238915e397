import { dot, softmax } from '../src/dsl/ops.js';
import { program } from '../src/dsl/program.js';
import type { Example } from './index.js';

/**
 * Grouped-query attention: H query heads share KVH key/value heads, G = H / KVH query heads per
 * group. No copy of K or V: Q's head axis is viewed as (kh, g), the scores and the weighted sum
 * are taken per (kh, g), and (kh, g) is merged back into h for the output, so head h reads key
 * head h / G. Default sizes are one decoding step of a Llama-3-8B-like layer (H = 32, KVH = 8,
 * D = 128) against 2048 cached keys; N > 1 runs a block of queries (no causal mask).
 */
export const gqaAttention: Example = {
  name: 'gqa-attention',
  description: 'grouped-query attention: H query heads over KVH shared key/value heads, Q: [B, H, N, D], K and V: [B, KVH, M, D]',
  dtypes: ['f32', 'f16'],
  sizes: { B: 1, H: 32, KVH: 8, N: 1, M: 2048, D: 128 },
  flops: (s) => 4 * s.B! * s.H! * s.N! * s.M! * s.D!,
  build: (dtype) =>
    program('gqa_attention', (p) => {
      const [B, H, KVH, N, M, D] = p.sizes('B', 'H', 'KVH', 'N', 'M', 'D');
      const dt = dtype as 'f32' | 'f16';
      const q = p.input('Q', dt, { b: B, h: H, i: N, d: D });
      const k = p.input('K', dt, { b: B, kh: KVH, j: M, d: D });
      const v = p.input('V', dt, { b: B, kh: KVH, j: M, e: D });
      // head h = kh * G + g: query head g of group kh
      const grouped = q.split('h', { kh: KVH, g: -1 });
      const scores = dot(grouped, k, 'd').mul(p.value(D, dt).rsqrt());
      const o = dot(softmax(scores, 'j'), v, 'j').merge(['kh', 'g'], 'h');
      p.output('O', o, ['b', 'h', 'i', 'e']);
    }),
};
