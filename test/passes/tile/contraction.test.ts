import { describe, expect, it } from 'vitest';
import { dot, gelu } from '../../../src/dsl/ops.js';
import { program } from '../../../src/dsl/program.js';
import { randomHost } from '../../../src/ir/host.js';
import { printTile } from '../../../src/ir/tile.js';
import { lower } from '../../../src/passes/pipeline.js';
import { type ContractionKnobs } from '../../../src/passes/schedule.js';
import { checkOnDevice, onEachDevice } from '../../helpers/device.js';

// M, N and K ragged against every tile; N and K multiples of 4, so vector reads apply
const linear = (dtype: 'f32' | 'f16') =>
  program('linear', (b) => {
    const [m, k, n] = b.sizes('M', 'K', 'N');
    const w = b.input('W', dtype, { k, j: n });
    const y = dot(b.input('X', dtype, { i: m, k }).cast('f32'), w.cast('f32'), 'k');
    b.output('Y', gelu(y.add(b.input('Bias', 'f32', { j: n }))));
  });
const sizes = { M: 37, K: 44, N: 68 };
const inputs = (dtype: 'f32' | 'f16') => ({ X: randomHost(dtype, [37, 44], 31), W: randomHost(dtype, [44, 68], 32), Bias: randomHost('f32', [68], 33) });
const id = 'contraction:Y_sum,Y';

describe('the tiled contraction', () => {
  it('reads like the loop nest a person would write: a register tile per lane, staged operand tiles', () => {
    const plan = lower(linear('f32'), sizes, { schedule: { [id]: { blockM: 16, blockN: 16, blockK: 8, threadM: 2, threadN: 4 } } });
    expect(plan.kernels).toHaveLength(1);
    expect(printTile(plan.tiles[0]!)).toMatchInlineSnapshot(`
      "kernel linear_0_contraction
        grid tm < 3
        grid tn < 5
        lanes ty < 8
        lanes tx < 4
        shared As: f32[128]
        shared Bs: f32[128]
        fold f0[k'] state(acc) at(i=min(tm * 16 + ty * 2 + i, 36), j=min(tn * 16 + tx * 4 + j, 67)) per i < 2, j < 4 -> Y_sum
        f0 = init
        for kt < 6:
          unrolled for pa < 4:
            As[(ty * 4 + tx + pa * 32) % 8 * 16 + (ty * 4 + tx + pa * 32) / 8] = 0
            if tm * 16 + (ty * 4 + tx + pa * 32) / 8 < 37:
              if kt * 8 + (ty * 4 + tx + pa * 32) % 8 < 44:
                As[(ty * 4 + tx + pa * 32) % 8 * 16 + (ty * 4 + tx + pa * 32) / 8] = X[tm * 16 + (ty * 4 + tx + pa * 32) / 8, kt * 8 + (ty * 4 + tx + pa * 32) % 8]
          unrolled for pb < 4:
            Bs[ty * 4 + tx + pb * 32] = 0
            if tn * 16 + (ty * 4 + tx + pb * 32) % 16 < 68:
              if kt * 8 + (ty * 4 + tx + pb * 32) / 16 < 44:
                Bs[ty * 4 + tx + pb * 32] = W[kt * 8 + (ty * 4 + tx + pb * 32) / 16, tn * 16 + (ty * 4 + tx + pb * 32) % 16]
          barrier
          for kk < 8:
            unrolled for i < 2:
              unrolled for j < 4:
                f0 = step(f0, kt * 8 + kk; a = As[kk * 16 + ty * 2 + i]; b = Bs[kk * 16 + tx * 4 + j] (vector along j))
          barrier
        unrolled for i < 2:
          unrolled for j < 4:
            if tm * 16 + ty * 2 + i < 37:
              if tn * 16 + tx * 4 + j < 68:
                Y[tm * 16 + ty * 2 + i, tn * 16 + tx * 4 + j] = (Y_sum[tm * 16 + ty * 2 + i, tn * 16 + tx * 4 + j] + Bias[tn * 16 + tx * 4 + j]) * (erf((Y_sum[tm * 16 + ty * 2 + i, tn * 16 + tx * 4 + j] + Bias[tn * 16 + tx * 4 + j]) * 0.7071067811865476) + 1) * 0.5"
    `);
  });

  it('splits the reduction into a kernel of parts and a combine kernel that applies the epilogue', () => {
    const plan = lower(linear('f32'), sizes, { schedule: { [id]: { staging: 'direct', splitK: 2, blockK: 16 } } });
    expect(plan.kernels.map((k) => k.name)).toEqual(['linear_0_contraction', 'linear_0_contraction_combine']);
    expect(plan.tensors.find((t) => t.role === 'temp')).toMatchObject({ name: 'Y_sum_splitk', shape: [37 * 68 * 2, 1] });
  });
});

onEachDevice(() => {
  describe('tiled contraction schedules against the reference', () => {
    const schedules: [string, Partial<ContractionKnobs>, ('f32' | 'f16')[]][] = [
      ['shared 4x4, vectors of 4', { blockM: 16, blockN: 32, blockK: 8, threadM: 4, threadN: 4 }, ['f32', 'f16']],
      ['shared, double-buffered, scalar reads', { blockM: 32, blockN: 16, blockK: 16, threadM: 2, threadN: 2, doubleBuffer: true, vectorWidth: 1 }, ['f32']],
      ['shared, one element per lane per pass, loop not unrolled', { blockM: 8, blockN: 8, blockK: 4, threadM: 1, threadN: 1, unrollK: false }, ['f32']],
      ['direct 8x8, N in vectors of 4', { blockM: 16, blockN: 64, blockK: 16, threadM: 8, threadN: 8, staging: 'direct' }, ['f32']],
      ['direct, A four reduction steps at a time', { blockM: 16, blockN: 32, blockK: 8, threadM: 4, threadN: 4, staging: 'direct', vectorK: 4 }, ['f32', 'f16']],
      ['direct, A four steps at a time, split-K 4', { blockM: 8, blockN: 32, blockK: 4, threadM: 2, threadN: 4, staging: 'direct', vectorK: 4, splitK: 4 }, ['f32']],
      ['shared, split-K 2, double-buffered', { blockM: 16, blockN: 16, blockK: 8, threadM: 4, threadN: 2, doubleBuffer: true, splitK: 2 }, ['f32']],
    ];
    for (const [label, knobs, dtypes] of schedules) {
      for (const dtype of dtypes) {
        it(`${label} (${dtype})`, async () => {
          const r = await checkOnDevice(linear(dtype), sizes, inputs(dtype), { compile: { schedule: { [id]: knobs } }, tol: { rtol: 1e-4, atol: 1e-4 } });
          expect(r.failures).toEqual([]);
          expect(r.plan.schedule[id]).toMatchObject(knobs);
        });
      }
    }
  });
});
