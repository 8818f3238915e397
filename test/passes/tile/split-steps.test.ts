import { describe, expect, it } from 'vitest';
import { onlineSoftmax } from '../../../examples/online-softmax.js';
import { linearRecurrence } from '../../../examples/linear-recurrence.js';
import { program } from '../../../src/dsl/program.js';
import { softmax } from '../../../src/dsl/ops.js';
import { printTile } from '../../../src/ir/tile.js';
import { lower } from '../../../src/passes/pipeline.js';
import { InvalidScheduleError } from '../../../src/passes/schedule.js';
import { checkOnDevice, onEachDevice } from '../../helpers/device.js';
import { inputsFor } from './inputs.js';

const attention = onlineSoftmax.build('f32');
// decoding: one query per head against a long cache
const decode = { B: 1, H: 3, N: 1, M: 301, D: 16 };
const split = (splitSteps: number, threadsPerRow = 8) => ({ defaults: { rows: { splitSteps, threadsPerRow, workgroupSize: 64 } } });

const longSum = program('long_sum', (b) => {
  const [R, L] = b.sizes('R', 'L');
  b.output('S', b.input('X', 'f32', { r: R, l: L }).sum('l'));
});

describe('splitSteps', () => {
  it('splits a fold into parts saved to scratch and a kernel that merges them', () => {
    const plan = lower(attention, decode, split(4));
    expect(plan.kernels.map((k) => k.name)).toEqual(['online_softmax_0_rows_parts', 'online_softmax_0_rows_combine']);
    expect(plan.tensors.filter((t) => t.role === 'temp')).toEqual([
      { name: 'online_softmax_0_rows_f0_parts', dtype: 'f32', shape: [12, 18], role: 'temp' },
    ]);
    expect(printTile(plan.tiles[1]!)).toMatchInlineSnapshot(`
      "kernel online_softmax_0_rows_combine
        grid row_g < 1
        lanes row_l < 64
        fold f0[j] state(m, l, acc[e]) at(b=p0, h=p1, i=p2) -> O, lse
        row = row_g * 64 + row_l
        if row < 3:
          p0 = 0
          p1 = row % 3
          p2 = 0
          f0 = init
          for part < 4:
            f0 = merge(f0, online_softmax_0_rows_f0_parts[row * 4 + part])
          for o0 < 16:
            O[p0, p1, p2, o0] = O[p0, p1, p2, o0]
          for o1 < 1:
            lse[p0, p1, p2] = lse[p0, p1, p2]"
    `);
    expect(printTile(plan.tiles[0]!)).toContain('online_softmax_0_rows_f0_parts[row * 4 + part] = f0');
  });

  it('refuses a row whose fold reads another result of the row, and a scan', () => {
    const sm = program('softmax', (b) => {
      const [N, D] = b.sizes('N', 'D');
      b.output('Y', softmax(b.input('X', 'f32', { i: N, j: D }), 'j'));
    });
    expect(() => lower(sm, { N: 4, D: 100 }, split(2))).toThrow(InvalidScheduleError);
    expect(() => lower(sm, { N: 4, D: 100 }, split(2))).toThrow(/reads Y_max/);
    expect(() => lower(linearRecurrence.build('f32'), { H: 2, T: 9, D: 2, E: 2 }, split(2, 1))).toThrow(/scan/);
  });
});

onEachDevice(() => {
  describe('split folds on the device against the reference', () => {
    for (const parts of [2, 5, 64]) {
      it(`decoding attention in ${parts} parts`, async () => {
        const r = await checkOnDevice(attention, decode, inputsFor(attention, decode, parts), {
          compile: split(parts),
          tol: { rtol: 1e-4, atol: 1e-5 },
        });
        expect(r.failures).toEqual([]);
      });
    }

    it('a long sum over few rows in 8 parts, one lane per row', async () => {
      const sizes = { R: 3, L: 5003 };
      const r = await checkOnDevice(longSum, sizes, inputsFor(longSum, sizes), { compile: split(8, 1), tol: { rtol: 1e-4, atol: 1e-4 } });
      expect(r.failures).toEqual([]);
    });
  });
});
