import { dot } from '../src/dsl/ops.js';
import { program } from '../src/dsl/program.js';
import type { Example } from './index.js';

/**
 * Attention written as one fold over the keys j (the core of flash attention): per query row,
 * a running max m, a running sum l of exp(score - m) and an accumulator row acc of the weighted
 * values, rescaled by exp(m_old - m_new) whenever the max grows. Outputs O = softmax(Q·Kᵀ·scale)·V
 * and the log-sum-exp of the scores (what a backward pass keeps). The merge combines two partial
 * rows the same way, so the keys can be split across lanes.
 */
export const onlineSoftmax: Example = {
  name: 'online-softmax',
  description: 'attention as one fold over the keys (online softmax), outputs O and the log-sum-exp',
  dtypes: ['f32'],
  sizes: { B: 1, H: 8, N: 512, M: 512, D: 64 },
  flops: (s) => 4 * s.B! * s.H! * s.N! * s.M! * s.D!,
  build: () =>
    program('online_softmax', (p) => {
      const [B, H, N, M, D] = p.sizes('B', 'H', 'N', 'M', 'D');
      const q = p.input('Q', 'f32', { b: B, h: H, i: N, d: D });
      const k = p.input('K', 'f32', { b: B, h: H, j: M, d: D });
      const v = p.input('V', 'f32', { b: B, h: H, j: M, e: D });
      const scale = p.value(D, 'f32').rsqrt();
      const { O, lse } = p.fold({
        over: { j: M },
        state: {
          m: { dtype: 'f32', init: -Infinity },
          l: { dtype: 'f32', init: 0 },
          acc: { dtype: 'f32', axes: { e: D }, init: 0 },
        },
        step: (s, local) => {
          const x = local('x', dot(q, k, 'd').mul(scale));
          const mNew = local('mNew', s.m.max(x));
          // before the first step m is -inf: exp(-inf - -inf) would be NaN, and l and acc are 0
          const alpha = local('alpha', s.m.eq(-Infinity).where(0, s.m.sub(mNew).exp()));
          const w = local('w', x.sub(mNew).exp());
          return { m: mNew, l: s.l.mul(alpha).add(w), acc: s.acc.mul(alpha).add(w.mul(v)) };
        },
        merge: (a, b) => {
          const m = a.m.max(b.m);
          const ea = a.m.eq(-Infinity).where(0, a.m.sub(m).exp());
          const eb = b.m.eq(-Infinity).where(0, b.m.sub(m).exp());
          return { m, l: a.l.mul(ea).add(b.l.mul(eb)), acc: a.acc.mul(ea).add(b.acc.mul(eb)) };
        },
        outputs: (s) => ({ O: s.acc.div(s.l), lse: s.m.add(s.l.log()) }),
      });
      p.output('O', O);
      p.output('lse', lse);
    }),
};
