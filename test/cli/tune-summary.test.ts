import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { failureSummary, parseBudget, saveBest } from '../../src/cli/tune.js';
import { TuningDatabase } from '../../src/autotune/db.js';
import { tuningEntry } from '../autotune/fixtures.js';
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

describe('saving the winner', () => {
  it('a database whose lock another machine holds past the time-out is reported, not thrown, so the run keeps what it measured', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tc-save-')), 'tuning.json');
    writeFileSync(`${file}.lock`, JSON.stringify({ pid: 12345, host: 'other-host.example', time: Date.now(), token: 'theirs' }));
    const db = await TuningDatabase.open(file, { lock: { timeoutMs: 200 } });
    const why = await saveBest(() => db.record(tuningEntry()));
    expect(why).toMatch(/could not lock tuning database .* other-host\.example \(another machine/);
    expect(await saveBest(async () => undefined)).toBeUndefined();
    await expect(saveBest(() => Promise.reject(new TypeError('a bug')))).rejects.toThrow('a bug');
  });
});
