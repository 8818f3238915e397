import { describe, expect, it } from 'vitest';
import { int4Gemm } from '../../../examples/lowbit-gemm.js';
import { randomInputs } from '../../../src/autotune/inputs.js';
import { program } from '../../../src/dsl/program.js';
import { printTile } from '../../../src/ir/tile.js';
import { lower } from '../../../src/passes/pipeline.js';
import { InvalidScheduleError } from '../../../src/passes/schedule.js';
import { checkOnDevice, onEachDevice } from '../../helpers/device.js';

const gemv = int4Gemm.build('f32');
const rows = (knobs: Record<string, number>) => ({ defaults: { rows: { workgroupSize: 64, ...knobs } } });
const inputs = (p: typeof gemv, sizes: Record<string, number>) => {
  const plan = lower(p, sizes);
  return randomInputs(plan.tensors.filter((t) => t.role === 'input'));
};

describe('unrollSteps', () => {
  it('runs a fold in blocks of consecutive steps, unrolled, that later transforms deal out whole', () => {
    const plan = lower(gemv, { M: 1, N: 5, K: 64, G: 32 }, rows({ threadsPerRow: 2, unrollSteps: 8 }));
    expect(plan.groups.map((g) => g.id)).toEqual(['rows:Y']);
    expect(printTile(plan.tiles[0]!)).toMatchInlineSnapshot(`
      "kernel int4_gemm_0_rows
        grid row_g < 1
        lanes row_l < 32
        lanes lane < 2
        fold f0[k'] state(acc) at(m=p0, n=p1) -> Y
        row = row_g * 32 + row_l
        p0 = 0
        p1 = row % 5
        if row < 5:
          f0 = init
          for lane <= r0b < 8 step 2:
            unrolled for r0u < 8:
              f0 = step(f0, r0b * 8 + r0u)
        f0 = merge across lane (workgroup)
        if row < 5:
          for lane <= o0 < 1 step 2:
            Y[p0, p1] = Y[p0, p1]"
    `);
  });

  it('guards the steps of a last, partial block, and picks the packing by default', () => {
    const plan = lower(gemv, { M: 1, N: 5, K: 64, G: 32 }, rows({ threadsPerRow: 1, unrollSteps: 3 }));
    expect(printTile(plan.tiles[0]!)).toContain('if r0b * 3 + r0u < 64:');
    expect(lower(gemv, { M: 1, N: 5, K: 64, G: 32 }).schedule['rows:Y']).toMatchObject({ unrollSteps: 0 });
    expect(printTile(lower(gemv, { M: 1, N: 5, K: 64, G: 32 }).tiles[0]!)).toContain('unrolled for r0u < 8');
  });

  it('is refused out of range and with staged operands', () => {
    expect(() => lower(gemv, { M: 1, N: 5, K: 64, G: 32 }, rows({ unrollSteps: 65 }))).toThrow(InvalidScheduleError);
    expect(() => lower(gemv, { M: 1, N: 5, K: 64, G: 32 }, rows({ unrollSteps: -1 }))).toThrow(/unrollSteps must be/);
    expect(() => lower(gemv, { M: 1, N: 5, K: 64, G: 32 }, rows({ unrollSteps: 4, stageSteps: 8, threadsPerRow: 1 }))).toThrow(/does not combine with stageSteps/);
  });
});

onEachDevice(() => {
  describe('unrolled steps on the device against the reference', () => {
    const long = program('long_sum', (b) => {
      const [R, L] = b.sizes('R', 'L');
      b.output('S', b.input('X', 'f32', { r: R, l: L }).sum('l'));
    });
    const cases: [string, Record<string, number>][] = [
      ['a lane per row, a word per block', { threadsPerRow: 1, unrollSteps: 8 }],
      ['a team of 8 per row, two words per block, split in 3 parts', { threadsPerRow: 8, unrollSteps: 16, splitSteps: 3 }],
      ['blocks of 3 (not a divisor of a word)', { threadsPerRow: 4, unrollSteps: 3 }],
      ['one step per block, 64 lanes per row', { threadsPerRow: 64, unrollSteps: 1 }],
      ['blocks of 64 (the largest)', { threadsPerRow: 2, unrollSteps: 64 }],
    ];
    for (const [what, knobs] of cases) {
      it(`int4 GEMV, N = 37, K = 320, G = 32: ${what}`, async () => {
        const sizes = { M: 1, N: 37, K: 320, G: 32 };
        const r = await checkOnDevice(gemv, sizes, inputs(gemv, sizes), { compile: rows(knobs), tol: { rtol: 1e-4, atol: 1e-4 } });
        expect(r.failures).toEqual([]);
      });
    }
    it('a sum of 1001 steps in blocks of 8 over a team of 4', async () => {
      const sizes = { R: 5, L: 1001 };
      const r = await checkOnDevice(long, sizes, inputs(long as typeof gemv, sizes), { compile: rows({ threadsPerRow: 4, unrollSteps: 8 }), tol: { rtol: 1e-4, atol: 1e-4 } });
      expect(r.failures).toEqual([]);
    });
  });
});
