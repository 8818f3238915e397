import { dot, softmax } from '../src/dsl/ops.js';
import { program } from '../src/dsl/program.js';
import type { Example } from './index.js';

/**
 * Causal self-attention: query i sees keys j <= i, the mask written as an index comparison that
 * sets the other scores to -inf. Streamed as one fold like the unmasked attention.
 */
export const causalAttention: Example = {
  name: 'causal-attention',
  description: 'causal self-attention softmax(mask(Q·Kᵀ·scale))·V, key j visible to query i when j <= i; Q, K, V: [B, H, N, D]',
  dtypes: ['f32', 'f16'],
  sizes: { B: 1, H: 8, N: 512, D: 64 },
  // the masked half of the scores is computed and skipped, but counts no useful work
  flops: (s) => 2 * s.B! * s.H! * s.N! * s.N! * s.D!,
  build: (dtype) =>
    program('causal_attention', (p) => {
      const [B, H, N, D] = p.sizes('B', 'H', 'N', 'D');
      const dt = dtype as 'f32' | 'f16';
      const q = p.input('Q', dt, { b: B, h: H, i: N, d: D });
      const k = p.input('K', dt, { b: B, h: H, j: N, d: D });
      const v = p.input('V', dt, { b: B, h: H, j: N, e: D });
      const scores = dot(q, k, 'd').mul(p.value(D, dt).rsqrt());
      const masked = p.index('j', N).le(p.index('i', N)).where(scores, -Infinity);
      p.output('O', dot(softmax(masked, 'j'), v, 'j'), ['b', 'h', 'i', 'e']);
    }),
};
