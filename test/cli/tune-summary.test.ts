import { afterEach, describe, expect, it, vi } from 'vitest';
import { matmul } from '../../examples/matmul.js';
import { canonicalJson } from '../../src/ir/hash.js';
import { type Measurement, summarize } from '../../src/autotune/measure.js';
import { searchSpace } from '../../src/autotune/space.js';
import { entryFor, failureSummary, parseBudget, saveBest, textReport, winnerLine } from '../../src/cli/tune.js';
import { type Candidate, type Measurer, tune } from '../../src/autotune/tuner.js';
import { syntheticDeviceInfo as info, tuningEntry } from '../autotune/fixtures.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TuningDatabase } from '../../src/autotune/db.js';

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

describe('the summary of a run against a noisy default', () => {
  afterEach(() => vi.restoreAllMocks());
  const program = matmul.build('f32');
  const sizes = { M: 256, N: 256, K: 256 };
  const space = searchSpace(info, program, sizes, { blockK: [8, 16], doubleBuffer: [false], splitK: [1] });
  const src = { name: 'matmul', program, dtype: 'f32' as const, sizes };
  const m = (ms: number): Measurement => ({ medianMs: ms, minMs: ms, maxMs: ms, spread: 0, samples: [ms], clock: 'device' });
  /** The default spreads ±180% however often it is measured; the others are steady and 20 times faster. */
  const noisyDefault: Measurer = async ({ schedule }) => {
    if (canonicalJson(schedule) !== canonicalJson(space.defaults)) return { status: 'ok', measurement: m(1 + (JSON.stringify(schedule).length % 7) / 100) };
    return { status: 'ok', measurement: summarize([4, 6, 20, 80, 120], 'device') };
  };
  const printed = (f: () => void) => {
    const lines: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((l: string) => void lines.push(l));
    f();
    return lines.join('\n');
  };

  it('prints no confident ratio: the default is measured again, stays wide, and the summary says so', async () => {
    const r = await tune(info, program, sizes, space, noisyDefault, { strategy: 'guided', budget: { trials: 10 } });
    const out = printed(() => textReport(src, r, undefined));
    expect(out).toMatch(/winner .*: 1\.0\d\d ms ±0\.0%; the default measured 20\.000 ms ±\d+\.\d%: no reliable speed-up \(spread wider than ±20% after measuring again: the default ±\d+%\)/);
    expect(out).not.toMatch(/x the default schedule/);
    expect(out).toMatch(/\? = against a default whose spread stays wide/);
    expect(out).toMatch(/20\.\d\dx\?/); // the table's ratios are marked
  });

  it('a confirmed, quiet default gives the ratio', async () => {
    const quiet: Measurer = async ({ schedule }) => ({ status: 'ok', measurement: m(canonicalJson(schedule) === canonicalJson(space.defaults) ? 20 : 2) });
    const r = await tune(info, program, sizes, space, quiet, { strategy: 'guided', budget: { trials: 10 } });
    expect(winnerLine(r)).toMatch(/: 2\.000 ms ±0\.0%, 10\.00x the default schedule \(20\.000 ms ±0\.0%\)$/);
  });

  it('after Ctrl-C the saved winner says it rests on screening alone', async () => {
    const abort = new AbortController();
    let n = 0;
    const r = await tune(info, program, sizes, space, async (plan, req) => {
      if (++n === 3) abort.abort();
      return noisyDefault(plan, req);
    }, { strategy: 'guided', budget: { trials: 10 } }, { signal: abort.signal });
    const key = { fingerprint: 'f', programHash: 'p', dtype: 'f32' as const, shape: sizes, tilecraftVersion: '0' };
    expect(entryFor(r, key, src, info, 1).measuredBy).toBe('screen');
    expect(winnerLine(r)).toMatch(/\(first measurement only, not confirmed\); the default .* no reliable speed-up \(the winner and the default measured by screening only\)/);
    const done = await tune(info, program, sizes, space, noisyDefault, { strategy: 'guided', budget: { trials: 4 } });
    expect(entryFor(done, key, src, info, 1).measuredBy).toBe('final');
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
