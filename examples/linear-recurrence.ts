import { dot } from '../src/dsl/ops.js';
import { program } from '../src/dsl/program.js';
import type { Example } from './index.js';

/**
 * A gated linear recurrence (linear attention with a decay) as a scan over time t, per head h:
 *
 *     S_t[d, e] = a[t, d] * S_{t-1}[d, e] + k[t, d] * v[t, e]        o[t, e] = sum[d](q[t, d] * S_t[d, e])
 *
 * A run of steps is the affine map S -> P ⊙ S + S_run (P[d] the product of the decays, scaling
 * row d), so the state keeps P beside S, and two runs compose as (P1 * P2, P2 ⊙ S1 + S2): the
 * later run's decays scale what the earlier one accumulated.
 */
export const linearRecurrence: Example = {
  name: 'linear-recurrence',
  description: 'gated linear recurrence S = a ⊙ S + k vᵀ, o = q·S as a scan over time',
  dtypes: ['f32'],
  sizes: { H: 8, T: 1024, D: 64, E: 64 },
  flops: (s) => 6 * s.H! * s.T! * s.D! * s.E!,
  build: () =>
    program('linear_recurrence', (p) => {
      const [H, T, D, E] = p.sizes('H', 'T', 'D', 'E');
      const q = p.input('q', 'f32', { h: H, t: T, d: D });
      const k = p.input('k', 'f32', { h: H, t: T, d: D });
      const v = p.input('v', 'f32', { h: H, t: T, e: E });
      const a = p.input('a', 'f32', { h: H, t: T, d: D });
      const { o } = p.scan({
        over: { t: T },
        state: {
          P: { dtype: 'f32', axes: { d: D }, init: 1 },
          S: { dtype: 'f32', axes: { d: D, e: E }, init: 0 },
        },
        step: (s) => ({ P: a.mul(s.P), S: a.mul(s.S).add(k.mul(v)) }),
        merge: (x, y) => ({ P: x.P.mul(y.P), S: y.P.mul(x.S).add(y.S) }),
        outputs: (s) => ({ o: dot(q, s.S, 'd') }),
      });
      p.output('o', o);
    }),
};
