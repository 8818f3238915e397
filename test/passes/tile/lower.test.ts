import { describe, expect, it } from 'vitest';
import { onlineSoftmax } from '../../../examples/online-softmax.js';
import { linearRecurrence } from '../../../examples/linear-recurrence.js';
import { printTile } from '../../../src/ir/tile.js';
import { lower } from '../../../src/passes/pipeline.js';
import { InvalidScheduleError } from '../../../src/passes/schedule.js';
import { checkOnDevice, onEachDevice } from '../../helpers/device.js';
import { inputsFor } from './inputs.js';

const attention = onlineSoftmax.build('f32');
// ragged against every team size and vector width
const attentionSizes = { B: 1, H: 2, N: 7, M: 37, D: 5 };
const recurrence = linearRecurrence.build('f32');
const recurrenceSizes = { H: 2, T: 19, D: 3, E: 5 };

describe('a hand-written fold lowers as one row kernel', () => {
  it('online softmax: one kernel, no score matrix, state merged across the row team', () => {
    const plan = lower(attention, attentionSizes, { defaults: { rows: { threadsPerRow: 4 } } });
    expect(plan.kernels).toHaveLength(1);
    expect(plan.tensors.filter((t) => t.role === 'temp')).toEqual([]);
    const tile = printTile(plan.tiles[0]!);
    expect(tile).toContain('merge across lane (workgroup)');
    // a non-commutative-looking merge gets contiguous blocks of keys per lane
    expect(tile).toMatch(/for lane \* 10 <= r\d+ < min\(lane \* 10 \+ 10, 37\)/);
  });

  it('keeps a team merge within workgroup memory: automatic teams take fewer rows, explicit ones are refused', () => {
    const sizes = { B: 1, H: 2, N: 9, M: 300, D: 64 };
    const plan = lower(attention, sizes);
    const shared = plan.kernels[0]!.buffers.filter((b) => b.scope === 'workgroup');
    expect(shared.reduce((a, b) => a + b.length * 4, 0)).toBeLessThanOrEqual(16384);
    expect(() => lower(attention, sizes, { defaults: { rows: { threadsPerRow: 32, workgroupSize: 256 } } })).toThrow(InvalidScheduleError);
  });

  it('refuses to share a scan among lanes, naming the knob', () => {
    expect(() => lower(recurrence, recurrenceSizes, { defaults: { rows: { threadsPerRow: 2 } } })).toThrow(/threadsPerRow/);
  });
});

onEachDevice(() => {
  describe('folds on the device against the reference', () => {
    for (const threadsPerRow of [1, 2, 8, 32]) {
      it(`online softmax with ${threadsPerRow} lane(s) per row`, async () => {
        const r = await checkOnDevice(attention, attentionSizes, inputsFor(attention, attentionSizes), {
          compile: { defaults: { rows: { threadsPerRow, workgroupSize: 64 } } },
          tol: { rtol: 1e-4, atol: 1e-5 },
        });
        expect(r.failures).toEqual([]);
      });
    }

    it('online softmax with subgroups asked for: its merge is not a plain sum, so it goes through workgroup memory', async () => {
      const r = await checkOnDevice(attention, attentionSizes, inputsFor(attention, attentionSizes, 3), {
        compile: { defaults: { rows: { threadsPerRow: 16, workgroupSize: 16, subgroups: true } } },
        tol: { rtol: 1e-4, atol: 1e-5 },
      });
      expect(r.failures).toEqual([]);
    });

    it('online softmax at head dim 64 with the default schedule', async () => {
      const sizes = { B: 1, H: 2, N: 5, M: 77, D: 64 };
      const r = await checkOnDevice(attention, sizes, inputsFor(attention, sizes, 5), { tol: { rtol: 1e-4, atol: 1e-5 } });
      expect(r.failures).toEqual([]);
    });

    it('the linear recurrence scan, one invocation per head', async () => {
      const r = await checkOnDevice(recurrence, recurrenceSizes, inputsFor(recurrence, recurrenceSizes), {
        tol: { rtol: 1e-4, atol: 1e-5 },
      });
      expect(r.failures).toEqual([]);
    });
  });
});
