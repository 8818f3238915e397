import { describe, expect, it } from 'vitest';
import { failureSummary, parseBudget } from '../../src/cli/tune.js';
import type { Candidate } from '../../src/autotune/tuner.js';

const c = (status: Candidate['status'], detail?: string) => ({ status, detail }) as Candidate;

describe('tune output', () => {
  it('summarizes failed candidates by kind of failure', () => {
    const lines = failureSummary([
      c('ok'),
      c('timeout', 'no result within 1500 ms; worker restarted'),
      c('timeout', 'no result within 2400 ms; worker restarted'),
      c('invalid', 'DeviceLimitError: 512 threads per workgroup, the device allows 256'),
      c('invalid', 'DeviceLimitError: 1024 threads per workgroup, the device allows 256'),
      c('invalid', 'DeviceLimitError: 40000 bytes of workgroup memory, the device allows 16384'),
      c('mismatch', 'Y[0] = 1, reference 2'),
      c('crash'),
    ]);
    expect(lines).toEqual([
      '3 invalid: DeviceLimitError',
      '2 timeout: no result within N ms; worker restarted',
      '1 crash',
      '1 mismatch: result disagrees with the reference',
    ]);
    expect(failureSummary([c('ok')])).toEqual([]);
  });
});

describe('--budget', () => {
  it('a budget of nothing is a usage error', () => {
    for (const b of ['0', '0s', '0,30s', '10,0m']) expect(() => parseBudget(b), b).toThrow(/UsageError|budget/);
    expect(parseBudget('8,30s')).toEqual({ trials: 8, seconds: 30 });
  });
});
