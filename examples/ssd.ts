import { dot } from '../src/dsl/ops.js';
import { program } from '../src/dsl/program.js';
import type { Example } from './index.js';

/**
 * Mamba-2's state-space duality (SSD) layer as its recurrence, per batch b and head h: a scalar
 * decay per step, exp(Δ_t A_h), an input x_t entering through B_t scaled by Δ_t, read out by C_t,
 * plus the skip D_h x_t; Δ = softplus(dt) and A = -exp(A_log) as the model stores them. B and C
 * are shared by the heads (one group):
 *
 *     S_t = exp(Δ_t A_h) S_{t-1} + Δ_t B_t x_tᵀ        y_t = C_t·S_t + D_h x_t
 */
export const ssd: Example = {
  name: 'ssd',
  description: 'Mamba-2 SSD: S = exp(Δ A) S + Δ B xᵀ, y = C·S + D x, as a scan over time; x: [B, H, L, P], B, C: [B, T, N]',
  dtypes: ['f32', 'f16'],
  sizes: { B: 1, H: 8, L: 4096, N: 64, P: 64 },
  flops: (s) => 4 * s.B! * s.H! * s.L! * s.N! * s.P!,
  build: (dtype) =>
    program('ssd', (p) => {
      const [Bs, H, L, N, P] = p.sizes('B', 'H', 'L', 'N', 'P');
      const dt = dtype as 'f32' | 'f16';
      const x = p.input('x', dt, { b: Bs, h: H, t: L, e: P }).cast('f32');
      // the step size, softplus of its logits; the decay rate, negative
      const delta = p.input('dt', dt, { b: Bs, h: H, t: L }).cast('f32').exp().add(1).log();
      const A = p.input('A_log', 'f32', { h: H }).exp().neg();
      const Bm = p.input('Bm', dt, { b: Bs, t: L, d: N }).cast('f32');
      const Cm = p.input('Cm', dt, { b: Bs, t: L, d: N }).cast('f32');
      const Dskip = p.input('D', 'f32', { h: H });
      const decay = delta.mul(A).exp();
      const { y } = p.scan({
        over: { t: L },
        state: { G: { dtype: 'f32', init: 1 }, S: { dtype: 'f32', axes: { d: N, e: P }, init: 0 } },
        step: (s) => ({ G: s.G.mul(decay), S: s.S.mul(decay).add(delta.mul(Bm).mul(x)) }),
        merge: (a, b) => ({ G: a.G.mul(b.G), S: a.S.mul(b.G).add(b.S) }),
        outputs: (s) => ({ y: dot(Cm, s.S, 'd').add(Dskip.mul(x)).cast(dt) }),
      });
      p.output('y', y);
    }),
};
