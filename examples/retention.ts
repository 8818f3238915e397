import { dot } from '../src/dsl/ops.js';
import { program } from '../src/dsl/program.js';
import type { Example } from './index.js';

/**
 * Retention (RetNet) as its recurrence: a fixed decay per head, γ_h = 1 - 2^(-5-h), written from
 * the head's index, so head 0 forgets fastest:
 *
 *     S_t = γ_h S_{t-1} + k_t v_tᵀ        o_t = q_t·S_t
 */
export const retention: Example = {
  name: 'retention',
  description: 'retention (RetNet): S = γ_h S + k vᵀ, o = q·S with a fixed decay per head, as a scan over time',
  dtypes: ['f32', 'f16'],
  sizes: { B: 1, H: 8, L: 4096, K: 64, V: 64 },
  flops: (s) => 4 * s.B! * s.H! * s.L! * s.K! * s.V!,
  build: (dtype) =>
    program('retention', (p) => {
      const [B, H, L, K, V] = p.sizes('B', 'H', 'L', 'K', 'V');
      const dt = dtype as 'f32' | 'f16';
      const q = p.input('q', dt, { b: B, h: H, t: L, d: K }).cast('f32');
      const k = p.input('k', dt, { b: B, h: H, t: L, d: K }).cast('f32');
      const v = p.input('v', dt, { b: B, h: H, t: L, e: V }).cast('f32');
      const gamma = p.scalar(1, 'f32').sub(p.scalar(2, 'f32').pow(p.index('h', H, 'f32').neg().sub(5)));
      const { o } = p.scan({
        over: { t: L },
        state: { P: { dtype: 'f32', init: 1 }, S: { dtype: 'f32', axes: { d: K, e: V }, init: 0 } },
        step: (s) => ({ P: s.P.mul(gamma), S: s.S.mul(gamma).add(k.mul(v)) }),
        merge: (x, y) => ({ P: x.P.mul(y.P), S: x.S.mul(y.P).add(y.S) }),
        outputs: (s) => ({ o: dot(q, s.S, 'd').cast(dt) }),
      });
      p.output('o', o);
    }),
};
