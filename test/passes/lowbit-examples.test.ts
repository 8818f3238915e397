import { describe, expect, it } from 'vitest';
import { int4Gemm, int4ZpGemm, int8ChannelGemm, int8Gemm, int8OutlierGemm, swigluInt4 } from '../../examples/lowbit-gemm.js';
import { randomInputs } from '../../src/autotune/inputs.js';
import { gelu } from '../../src/dsl/ops.js';
import { program } from '../../src/dsl/program.js';
import { idiv } from '../../src/ir/intexpr.js';
import { type DType } from '../../src/ir/dtype.js';
import { type Program } from '../../src/ir/tensor.js';
import { lower } from '../../src/passes/pipeline.js';
import { type Example } from '../../examples/index.js';
import { checkOnDevice, onEachDevice } from '../helpers/device.js';

/** An int4 GEMV with the usual epilogue: H = gelu(X·deq(W) + Bias) + R. */
const gemvEpilogue = program('int4_gemv_epilogue', (p) => {
  const [M, N, K, G] = p.sizes('M', 'N', 'K', 'G');
  const groups = idiv(K, G);
  const deq = p.input('W', 'u4', { n: N, k: K }).cast('f32').sub(8).split('k', { kg: groups, ki: G }).mul(p.input('S', 'f32', { n: N, kg: groups })).merge(['kg', 'ki'], 'k');
  const y = p.input('X', 'f32', { m: M, k: K }).mul(deq).sum('k');
  p.output('H', gelu(y.add(p.input('Bias', 'f32', { n: N }))).add(p.input('R', 'f32', { m: M, n: N })));
});

/** Full-range integers for the packed weights and zero points, small positive scales. */
const inputs = (p: Program, sizes: Record<string, number>) => randomInputs(lower(p, sizes).tensors.filter((t) => t.role === 'input'), 5);

describe('low-bit formats', () => {
  it('run as rows (a fold per output) at M = 1 and as a tiled contraction above', () => {
    const p = int4ZpGemm.build('f32');
    expect(lower(p, { M: 1, N: 37, K: 64, G: 32 }).groups.map((g) => g.id)).toEqual(['rows:Y']);
    expect(lower(p, { M: 16, N: 37, K: 64, G: 32 }).groups.map((g) => g.kind)).toEqual(['contraction']);
  });

  it('take a bias, an activation and a residual into the GEMV kernel', () => {
    const plan = lower(gemvEpilogue, { M: 1, N: 37, K: 64, G: 32 });
    expect(plan.kernels).toHaveLength(1);
    expect(plan.groups.map((g) => g.kind)).toEqual(['rows']);
  });

  it("fuse a SwiGLU's gate and up projections and their product into one kernel at M = 1", () => {
    const plan = lower(swigluInt4.build('f32'), { M: 1, N: 37, K: 64, G: 32 });
    expect(plan.kernels).toHaveLength(1);
    expect(plan.groups.map((g) => g.id)).toEqual(['rows:H_sum,H_sum2,H']);
  });
});

onEachDevice(() => {
  // odd N everywhere; K a multiple of the group size only where the format has groups
  const cases: [Example, DType, Record<string, number>][] = [
    [int4Gemm, 'f32', { N: 37, K: 96, G: 32 }],
    [int4Gemm, 'f16', { N: 37, K: 128, G: 64 }],
    [int4Gemm, 'f32', { N: 19, K: 256, G: 128 }],
    [int4ZpGemm, 'f32', { N: 37, K: 192, G: 64 }],
    [int4ZpGemm, 'f16', { N: 21, K: 96, G: 32 }],
    [int8Gemm, 'f32', { N: 37, K: 96, G: 32 }],
    [int8ChannelGemm, 'f32', { N: 37, K: 101 }],
    [int8ChannelGemm, 'f16', { N: 29, K: 77 }],
    [int8OutlierGemm, 'f32', { N: 37, K: 101, O: 5 }],
    [swigluInt4, 'f32', { N: 37, K: 96, G: 32 }],
    [{ ...int4Gemm, name: 'int4 GEMV + bias, GELU, residual', build: () => gemvEpilogue }, 'f32', { N: 37, K: 96, G: 32 }],
  ];
  describe('low-bit formats on the device against the reference', () => {
    for (const [example, dtype, shape] of cases) {
      for (const M of [1, 3, 16, 64]) {
        const sizes = { M, ...shape };
        it(`${example.name} ${dtype} ${Object.entries(sizes).map(([k, v]) => `${k}=${v}`).join(' ')}`, async () => {
          const p = example.build(dtype);
          const r = await checkOnDevice(p, sizes, inputs(p, sizes), { tol: dtype === 'f16' ? { rtol: 2e-2, atol: 2e-2 } : { rtol: 1e-4, atol: 2e-3 } });
          expect(r.failures).toEqual([]);
        });
      }
    }
  });

  describe('int4 skinny GEMM schedules: steps in blocks of a packed word', () => {
    const p = int4Gemm.build('f32');
    const direct = { staging: 'direct', vectorK: 1, splitK: 1, unrollK: false } as const;
    const schedules: [string, Record<string, number | string | boolean>][] = [
      ['A shared by shuffles, 16 x 8 per lane', { ...direct, blockM: 16, threadM: 16, blockN: 64, threadN: 8, blockK: 8, shuffleA: true }],
      ['A shared by shuffles, split-K 2', { ...direct, blockM: 8, threadM: 8, blockN: 32, threadN: 4, blockK: 16, shuffleA: true, splitK: 2 }],
      ['A per lane, K past the last block', { ...direct, blockM: 4, threadM: 2, blockN: 16, threadN: 4, blockK: 16, shuffleA: false }],
    ];
    for (const [what, knobs] of schedules) {
      for (const sizes of [
        { M: 16, N: 37, K: 96, G: 32 },
        { M: 5, N: 19, K: 40, G: 8 },
      ]) {
        it(`${what}: ${Object.entries(sizes).map(([k, v]) => `${k}=${v}`).join(' ')}`, async () => {
          const r = await checkOnDevice(p, sizes, inputs(p, sizes), { compile: { defaults: { contraction: knobs } }, tol: { rtol: 1e-4, atol: 2e-3 } });
          expect(r.failures).toEqual([]);
          expect(r.plan.groups.map((g) => g.kind)).toEqual(['contraction']);
        });
      }
    }
  });
});
