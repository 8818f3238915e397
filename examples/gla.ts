import { type StateOf } from '../src/dsl/fold.js';
import { dot } from '../src/dsl/ops.js';
import { program } from '../src/dsl/program.js';
import type { Example } from './index.js';

/**
 * Gated linear attention (GLA), written as its recurrence: per batch b and head h, a matrix state
 * over key dimension d and value dimension e, decayed per key dimension by a data-dependent gate
 * and added to by the outer product of the step's key and value:
 *
 *     S_t[d, e] = a[t, d] * S_{t-1}[d, e] + k[t, d] * v[t, e]        o_t[e] = sum[d](q[t, d] * S_t[d, e])
 *
 * with the decay a = sigmoid(gk)^(1/16) from the gate logits gk, as in the GLA paper, written in
 * log space: exp(log(sigmoid(gk)) / 16), so it is never rounded to 0 or 1 on the way. The program also returns
 * the final state, for decoding to continue from (see gla-decode). tilecraft computes both in
 * chunks (the chunk-scan rewrite): matrix products inside a chunk, a scan over chunks.
 */
export const gla: Example = {
  name: 'gla',
  description: 'gated linear attention S = a ⊙ S + k vᵀ, o = q·S, a = sigmoid(gk)^(1/16), as a scan over time, with the final state; q, k, gk: [B, H, L, K], v: [B, H, L, V]',
  dtypes: ['f32', 'f16'],
  sizes: { B: 1, H: 8, L: 4096, K: 64, V: 64 },
  flops: (s) => 4 * s.B! * s.H! * s.L! * s.K! * s.V!,
  build: (dtype) =>
    program('gla', (p) => {
      const [B, H, L, K, V] = p.sizes('B', 'H', 'L', 'K', 'V');
      const dt = dtype as 'f32' | 'f16';
      const q = p.input('q', dt, { b: B, h: H, t: L, d: K }).cast('f32');
      const k = p.input('k', dt, { b: B, h: H, t: L, d: K }).cast('f32');
      const v = p.input('v', dt, { b: B, h: H, t: L, e: V }).cast('f32');
      // the decay: sigmoid of the gate logits, to the power 1/16, written in log space
      const a = p.input('gk', dt, { b: B, h: H, t: L, d: K }).cast('f32').sigmoid().log().div(16).exp();
      // a run of steps is S -> P ⊙ S + S_run: P, the product of its decays, lets two runs compose
      const state = {
        P: { dtype: 'f32', axes: { d: K }, init: 1 },
        S: { dtype: 'f32', axes: { d: K, e: V }, init: 0 },
      } as const;
      const recurrence = {
        over: { t: L },
        state,
        step: (s: StateOf<typeof state>) => ({ P: a.mul(s.P), S: a.mul(s.S).add(k.mul(v)) }),
        merge: (x: StateOf<typeof state>, y: StateOf<typeof state>) => ({ P: x.P.mul(y.P), S: y.P.mul(x.S).add(y.S) }),
      };
      const { o } = p.scan({ ...recurrence, outputs: (s) => ({ o: dot(q, s.S, 'd').cast(dt) }) });
      // the same recurrence as a fold: the state after the last step
      const { S_final } = p.fold({ ...recurrence, outputs: (s) => ({ S_final: s.S }) });
      p.output('o', o);
      p.output('S_final', S_final);
    }),
};

/**
 * One decoding step of gated linear attention against a stored state: the state after the step
 * and the step's output. (The new state is a tensor of its own: the caller swaps the two buffers.)
 */
export const glaDecode: Example = {
  name: 'gla-decode',
  description: 'one step of gated linear attention against a stored state: S_new = a ⊙ S + k vᵀ, o = q·S_new, a = sigmoid(gk)^(1/16); S: [B, H, K, V]',
  dtypes: ['f32'],
  sizes: { B: 1, H: 32, K: 128, V: 128 },
  flops: (s) => 4 * s.B! * s.H! * s.K! * s.V!,
  build: () =>
    program('gla_decode', (p) => {
      const [B, H, K, V] = p.sizes('B', 'H', 'K', 'V');
      const S = p.input('S', 'f32', { b: B, h: H, d: K, e: V });
      const q = p.input('q', 'f32', { b: B, h: H, d: K });
      const k = p.input('k', 'f32', { b: B, h: H, d: K });
      const v = p.input('v', 'f32', { b: B, h: H, e: V });
      // the decay once per key dimension, not once per element of the state it scales
      const a = p.let('a', p.input('gk', 'f32', { b: B, h: H, d: K }).sigmoid().log().div(16).exp());
      const next = p.output('S_new', a.mul(S).add(k.mul(v)), ['b', 'h', 'd', 'e']);
      p.output('o', dot(q, next, 'd'), ['b', 'h', 'e']);
    }),
};
