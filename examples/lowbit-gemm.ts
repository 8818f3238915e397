import { silu } from '../src/dsl/ops.js';
import { program } from '../src/dsl/program.js';
import { idiv } from '../src/ir/intexpr.js';
import type { Example } from './index.js';

/**
 * Weight-quantized GEMM and GEMV formats, each written as its dequantization (the formats and
 * their packing are listed in the README). At M = 1 (decoding) each is a GEMV: it runs as one
 * fold per output whose steps stream the packed weights, a word of eight 4-bit weights and their
 * group's scale read once per block of steps; at larger M, as a tiled contraction dequantizing
 * its weight tiles.
 */

type Act = 'f32' | 'f16';
const flops = (s: Readonly<Record<string, number>>) => 2 * s.M! * s.N! * s.K!;

/**
 * Y[m, n] = sum[k] X[m, k] * (f32(W[n, k]) * S[n, k / G]): int8 weights with one scale per group
 * of G input channels. The grouping reads as a split of k into (kg, ki), scaled by S[n, kg].
 */
export const int8Gemm: Example = {
  name: 'int8-gemm',
  description: 'GEMM with int8 weights W: [N, K] and per-group scales S: [N, K/G], X: [M, K]',
  dtypes: ['f32'],
  sizes: { M: 16, N: 4096, K: 4096, G: 128 },
  flops,
  build: () =>
    program('int8_gemm', (p) => {
      const [M, N, K, G] = p.sizes('M', 'N', 'K', 'G');
      const groups = idiv(K, G);
      const x = p.input('X', 'f32', { m: M, k: K });
      const w = p.input('W', 'i8', { n: N, k: K });
      const s = p.input('S', 'f32', { n: N, kg: groups });
      const deq = w.cast('f32').split('k', { kg: groups, ki: G }).mul(s).merge(['kg', 'ki'], 'k');
      p.output('Y', x.mul(deq).sum('k'));
    }),
};

/** int8 weight-only, one scale per output channel: Y[m, n] = S[n] * sum[k] X[m, k] * f32(W[n, k]). */
export const int8ChannelGemm: Example = {
  name: 'int8-channel-gemm',
  description: 'GEMM with int8 weights W: [N, K] and one scale per output channel S: [N], X: [M, K] in T',
  dtypes: ['f32', 'f16'],
  sizes: { M: 1, N: 4096, K: 4096 },
  flops,
  build: (dtype) =>
    program('int8_channel_gemm', (p) => {
      const [M, N, K] = p.sizes('M', 'N', 'K');
      const x = p.input('X', dtype as Act, { m: M, k: K });
      const w = p.input('W', 'i8', { n: N, k: K });
      const s = p.input('S', 'f32', { n: N });
      p.output('Y', x.mul(w.cast(dtype as Act)).sum('k').mul(s.cast(dtype as Act)));
    }),
};

/**
 * Symmetric int4: W: u4 [N, K] packed eight per u32 along K, zero point 8, one f32 scale per group
 * of G (32, 64 or 128) along K: Y[m, n] = sum[k] X[m, k] * (W[n, k] - 8) * S[n, k / G].
 */
export const int4Gemm: Example = {
  name: 'int4-gemm',
  description: 'GEMM with 4-bit weights W: u4 [N, K] (zero point 8) and per-group scales S: [N, K/G], X: [M, K] in T',
  dtypes: ['f32', 'f16'],
  sizes: { M: 16, N: 4096, K: 4096, G: 128 },
  flops,
  build: (dtype) =>
    program('int4_gemm', (p) => {
      const [M, N, K, G] = p.sizes('M', 'N', 'K', 'G');
      const groups = idiv(K, G);
      const x = p.input('X', dtype as Act, { m: M, k: K });
      const w = p.input('W', 'u4', { n: N, k: K });
      const s = p.input('S', 'f32', { n: N, kg: groups });
      const deq = w.cast('f32').sub(8).split('k', { kg: groups, ki: G }).mul(s).merge(['kg', 'ki'], 'k');
      p.output('Y', x.mul(deq.cast(dtype as Act)).sum('k'));
    }),
};

/**
 * Asymmetric int4 as GPTQ and AWQ checkpoints quantize: a 4-bit zero point and an f16 scale per
 * group of G along K, the zero points themselves packed eight per u32 (Z: u4 [N, K/G]):
 * Y[m, n] = sum[k] X[m, k] * (W[n, k] - Z[n, k / G]) * S[n, k / G].
 */
export const int4ZpGemm: Example = {
  name: 'int4-zp-gemm',
  description: 'GEMM with 4-bit weights W: u4 [N, K], packed 4-bit zero points Z: u4 [N, K/G] and f16 scales S: [N, K/G], X: [M, K] in T',
  dtypes: ['f32', 'f16'],
  sizes: { M: 1, N: 4096, K: 4096, G: 128 },
  flops,
  build: (dtype) =>
    program('int4_zp_gemm', (p) => {
      const [M, N, K, G] = p.sizes('M', 'N', 'K', 'G');
      const groups = idiv(K, G);
      const x = p.input('X', dtype as Act, { m: M, k: K });
      const w = p.input('W', 'u4', { n: N, k: K });
      const z = p.input('Z', 'u4', { n: N, kg: groups });
      const s = p.input('S', 'f16', { n: N, kg: groups });
      const deq = w.cast('f32').split('k', { kg: groups, ki: G }).sub(z.cast('f32')).mul(s.cast('f32')).merge(['kg', 'ki'], 'k');
      p.output('Y', x.mul(deq.cast(dtype as Act)).sum('k'));
    }),
};

/**
 * LLM.int8()-style vector-wise int8 × int8: the activation rows quantized to int8 with one scale
 * per row (Sx), the weights with one scale per output channel (Sw), products summed exactly in
 * i32; the outlier feature columns (those the quantization left out, as zeros in Xq) kept in f16
 * and added back: Xo: [M, O] holds them, Wo: [N, O] the weights' matching columns.
 */
export const int8OutlierGemm: Example = {
  name: 'int8-outlier-gemm',
  description: 'LLM.int8(): int8 X·W with row and channel scales, plus f16 outlier columns Xo: [M, O], Wo: [N, O]',
  dtypes: ['f32'],
  sizes: { M: 16, N: 4096, K: 4096, O: 16 },
  flops,
  build: () =>
    program('int8_outlier_gemm', (p) => {
      const [M, N, K, O] = p.sizes('M', 'N', 'K', 'O');
      const xq = p.input('Xq', 'i8', { m: M, k: K });
      const sx = p.input('Sx', 'f32', { m: M });
      const wq = p.input('Wq', 'i8', { n: N, k: K });
      const sw = p.input('Sw', 'f32', { n: N });
      const xo = p.input('Xo', 'f16', { m: M, o: O });
      const wo = p.input('Wo', 'f16', { n: N, o: O });
      const exact = xq.cast('i32').mul(wq.cast('i32')).sum('k').cast('f32').mul(sx).mul(sw);
      const outliers = xo.cast('f32').mul(wo.cast('f32')).sum('o');
      p.output('Y', exact.add(outliers));
    }),
};

/**
 * A SwiGLU MLP's gate and up projections with int4 weights, sharing their input:
 * H[m, n] = silu(X · deq(Wg)) * (X · deq(Wu)). At M = 1 both folds and the product are one kernel.
 */
export const swigluInt4: Example = {
  name: 'swiglu-int4',
  description: 'silu(X·Wg) * (X·Wu) with 4-bit weights Wg, Wu: u4 [N, K] (zero point 8) and per-group scales Sg, Su: [N, K/G]',
  dtypes: ['f32'],
  sizes: { M: 1, N: 4096, K: 4096, G: 128 },
  flops: (s) => 4 * s.M! * s.N! * s.K!,
  build: () =>
    program('swiglu_int4', (p) => {
      const [M, N, K, G] = p.sizes('M', 'N', 'K', 'G');
      const groups = idiv(K, G);
      const x = p.input('X', 'f32', { m: M, k: K });
      const proj = (w: string, s: string) => {
        const deq = p.input(w, 'u4', { n: N, k: K }).cast('f32').sub(8).split('k', { kg: groups, ki: G }).mul(p.input(s, 'f32', { n: N, kg: groups })).merge(['kg', 'ki'], 'k');
        return x.mul(deq).sum('k');
      };
      p.output('H', silu(proj('Wg', 'Sg')).mul(proj('Wu', 'Su')));
    }),
};
