import { describe, expect, it } from 'vitest';
import { measure } from '../../src/autotune/measure.js';

describe('measure', () => {
  it('keeps each launch’s median beside the total’s, with device timestamps', async () => {
    const runs = [[1, 10], [3, 30], [2, 20]];
    let i = 0;
    const m = await measure(async () => ({ kernelMs: runs[i++ % 3]!, wallMs: 99 }), { warmup: 0, repeat: 3, timeoutMs: 10_000 });
    expect(m.clock).toBe('device');
    expect(m.medianMs).toBe(22);
    expect(m.kernelMs).toEqual([2, 20]);
  });

  it('has no per-launch times from the wall clock', async () => {
    const m = await measure(async () => ({ wallMs: 5 }), { warmup: 0, repeat: 2, timeoutMs: 10_000 });
    expect(m.clock).toBe('wall');
    expect(m.kernelMs).toBeUndefined();
  });
});
