import { type StateOf } from '../src/dsl/fold.js';
import { dot } from '../src/dsl/ops.js';
import { program } from '../src/dsl/program.js';
import { type Tensor } from '../src/dsl/tensor.js';
import type { Example } from './index.js';

/** The feature map elu(x) + 1: positive, so the normalizer never vanishes. */
const eluPlusOne = <A extends string>(x: Tensor<'f32', A>) => x.gt(0).where(x.add(1), x.exp());

/**
 * Causal linear attention (Katharopoulos et al.) as its recurrence, per batch b and head h: the
 * feature map φ = elu + 1 on queries and keys, a state S summing φ(k) vᵀ and a normalizer z
 * summing φ(k), and each output divided by φ(q)·z:
 *
 *     S_t = S_{t-1} + φ(k_t) v_tᵀ      z_t = z_{t-1} + φ(k_t)      o_t = φ(q_t)·S_t / φ(q_t)·z_t
 */
export const linearAttention: Example = {
  name: 'linear-attention',
  description: 'causal linear attention with the elu+1 feature map and its normalizer, as a scan over time; q, k: [B, H, L, K], v: [B, H, T, V]',
  dtypes: ['f32', 'f16'],
  sizes: { B: 1, H: 8, L: 4096, K: 64, V: 64 },
  flops: (s) => 4 * s.B! * s.H! * s.L! * s.K! * (s.V! + 1),
  build: (dtype) =>
    program('linear_attention', (p) => {
      const [B, H, L, K, V] = p.sizes('B', 'H', 'L', 'K', 'V');
      const dt = dtype as 'f32' | 'f16';
      const q = eluPlusOne(p.input('q', dt, { b: B, h: H, t: L, d: K }).cast('f32'));
      const k = eluPlusOne(p.input('k', dt, { b: B, h: H, t: L, d: K }).cast('f32'));
      const v = p.input('v', dt, { b: B, h: H, t: L, e: V }).cast('f32');
      const state = {
        S: { dtype: 'f32', axes: { d: K, e: V }, init: 0 },
        z: { dtype: 'f32', axes: { d: K }, init: 0 },
      } as const;
      const { o } = p.scan({
        over: { t: L },
        state,
        step: (s: StateOf<typeof state>) => ({ S: s.S.add(k.mul(v)), z: s.z.add(k) }),
        merge: (x, y) => ({ S: x.S.add(y.S), z: x.z.add(y.z) }),
        outputs: (s) => ({ o: dot(q, s.S, 'd').div(dot(q, s.z, 'd')).cast(dt) }),
      });
      p.output('o', o);
    }),
};

/** Causal linear attention with the identity feature map and no normalizer: o_t = q_t·S_t, S_t = S_{t-1} + k_t v_tᵀ. */
export const linearAttentionPlain: Example = {
  name: 'linear-attention-plain',
  description: 'causal linear attention, identity feature map, no normalizer: o = q·S, S = S + k vᵀ, as a scan over time',
  dtypes: ['f32', 'f16'],
  sizes: { B: 1, H: 8, L: 4096, K: 64, V: 64 },
  flops: (s) => 4 * s.B! * s.H! * s.L! * s.K! * s.V!,
  build: (dtype) =>
    program('linear_attention_plain', (p) => {
      const [B, H, L, K, V] = p.sizes('B', 'H', 'L', 'K', 'V');
      const dt = dtype as 'f32' | 'f16';
      const q = p.input('q', dt, { b: B, h: H, t: L, d: K }).cast('f32');
      const k = p.input('k', dt, { b: B, h: H, t: L, d: K }).cast('f32');
      const v = p.input('v', dt, { b: B, h: H, t: L, e: V }).cast('f32');
      const { o } = p.scan({
        over: { t: L },
        state: { S: { dtype: 'f32', axes: { d: K, e: V }, init: 0 } },
        step: (s) => ({ S: s.S.add(k.mul(v)) }),
        merge: (x, y) => ({ S: x.S.add(y.S) }),
        outputs: (s) => ({ o: dot(q, s.S, 'd').cast(dt) }),
      });
      p.output('o', o);
    }),
};
