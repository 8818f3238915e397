import { describe, expect, it } from 'vitest';
import { canonicalEntry, compareEntries, mergeDatabases, type Sections, selectExported, selectPruned } from '../../src/autotune/db-tools.js';
import { type StoredEntry, type TuningEntry, listEntries, serialize, tuningKey } from '../../src/autotune/entries.js';
import { storedEntry } from './fixtures.js';

const rows = (threadsPerRow: number) => ({ 'rows:Y_max,Y_sum,Y': { kind: 'rows', threadsPerRow, workgroupSize: 256 } }) as unknown as TuningEntry['schedule'];

const entry = (over: Partial<TuningEntry> = {}): TuningEntry => storedEntry({ schedule: rows(64), ...over });

const sections = (entries: readonly TuningEntry[], stale: readonly TuningEntry[] = []): Sections => ({
  entries: new Map(entries.map((e) => [tuningKey(e), e])),
  stale: new Map(stale.map((e) => [tuningKey(e), e])),
});

const fileOf = (s: Sections) => serialize({ ...s, invalid: [] });

function permutations<T>(xs: readonly T[]): T[][] {
  if (xs.length <= 1) return [[...xs]];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((rest) => [x, ...rest]));
}

/** The same entry with its fields in reverse order: a file written by hand or by another tool. */
const reordered = (e: TuningEntry) => Object.fromEntries(Object.entries(e).reverse()) as unknown as TuningEntry;

describe('merging tuning databases', () => {
  const n = (size: number) => ({ sizes: { N: size }, shape: { '%s0': size } });
  const laptop = sections(
    [
      entry({ ...n(1024), medianMs: 0.5 }),
      entry({ ...n(4096), medianMs: 1.9, spread: 0.02, schedule: rows(128) }),
      entry({ ...n(8192), medianMs: 3, schedule: rows(32) }),
    ],
    [entry({ ...n(256), tilecraftVersion: '0.0.9', medianMs: 0.2 })],
  );
  const desktop = sections([
    entry({ ...n(1024), medianMs: 0.45, schedule: rows(32) }),
    // the same time and spread as the laptop's 8192 but another schedule: the smaller canonical JSON wins
    entry({ ...n(8192), medianMs: 3, schedule: rows(16) }),
    reordered(entry({ ...n(2048), medianMs: 1, recordedAt: '2026-10-01T00:00:00.000Z' })),
  ]);
  const ci = sections(
    [
      entry({ ...n(4096), medianMs: 1.9, spread: 0.01, schedule: rows(64) }),
      // identical but for when it was recorded, and a field this version does not know
      { ...entry({ ...n(2048), medianMs: 1, recordedAt: '2026-10-02T00:00:00.000Z' }), note: 'from ci' } as TuningEntry,
      entry({ ...n(1024), fingerprint: '2222222222222222', medianMs: 0.2 }),
    ],
    [entry({ ...n(256), tilecraftVersion: '0.0.9', medianMs: 0.25 })],
  );

  it('gives the same file, byte for byte, for every order of the inputs', () => {
    const files = permutations([laptop, desktop, ci]).map((order) => fileOf(mergeDatabases(order)));
    expect(files).toHaveLength(6);
    expect(new Set(files).size).toBe(1);
    // and merging the result again changes nothing
    expect(fileOf(mergeDatabases([mergeDatabases([laptop, desktop, ci]), laptop]))).toBe(files[0]);
  });

  it('keeps, for each key, the lowest median, then the lowest spread, then the smallest schedule, then the smallest entry', () => {
    const merged = mergeDatabases([laptop, desktop, ci]);
    const byN = (size: number, fp = '1111111111111111') => [...merged.entries.values()].find((e) => e.shape['%s0'] === size && e.fingerprint === fp)!;
    expect(merged.entries.size).toBe(5);
    expect(byN(1024).medianMs).toBe(0.45);
    expect(byN(1024, '2222222222222222').medianMs).toBe(0.2);
    expect(byN(4096).spread).toBe(0.01);
    expect(byN(8192).schedule).toEqual(rows(16));
    // a full tie: the smaller canonical JSON of the whole entry (`"note"` sorts before `"program"`), its unknown field kept
    expect(byN(2048)).toMatchObject({ recordedAt: '2026-10-02T00:00:00.000Z', note: 'from ci' });
    expect([...merged.stale.values()].map((e) => e.medianMs)).toEqual([0.2]);
  });

  it('writes entries with their fields in the usual order, unknown ones kept after them', () => {
    expect(Object.keys(canonicalEntry(reordered(entry())))).toEqual(Object.keys(entry()));
    const withNote = canonicalEntry({ ...entry(), zeta: 1, alpha: 2 } as TuningEntry);
    expect(Object.keys(withNote).slice(-2)).toEqual(['alpha', 'zeta']);
    expect(compareEntries(entry(), reordered(entry()))).toBe(0);
    expect(compareEntries(entry({ medianMs: 0.4 }), entry({ medianMs: 0.5, spread: 0 }))).toBeLessThan(0);
  });
});

describe('pruning and exporting', () => {
  const listed: StoredEntry[] = listEntries(
    {
      ...sections(
        [
          entry(),
          entry({ sizes: { N: 2048 }, shape: { '%s0': 2048 }, recordedAt: '2026-09-01T00:00:00.000Z' }),
          entry({ fingerprint: '2222222222222222' }),
          entry({ tilecraftVersion: '0.0.9', program: 'layernorm' }),
        ],
        [entry({ tilecraftVersion: '0.0.8', program: 'old' })],
      ),
      invalid: [],
    },
    {},
  );

  it('prune drops what meets any criterion, stale entries included, saying why', () => {
    const dropped = selectPruned(listed, { otherVersionThan: '0.1.0', recordedBefore: new Date('2026-10-01'), fingerprint: '2222222222222222' });
    expect(dropped.map((d) => [d.entry.program, d.entry.shape['%s0'], d.stale ?? false, d.reasons])).toEqual([
      ['layernorm', 1024, false, ['tilecraft 0.0.9']],
      ['softmax', 2048, false, ['recorded 2026-09-01T00:00:00.000Z']],
      ['softmax', 1024, false, ['device 2222222222222222']],
      ['old', 1024, true, ['tilecraft 0.0.8']],
    ]);
    expect(selectPruned(listed, {})).toEqual([]);
    expect(selectPruned(listed, { fingerprint: '3333333333333333' })).toEqual([]);
  });

  it('export keeps the current entries matching every filter, never stale ones', () => {
    const keys = (f: Parameters<typeof selectExported>[1]) => selectExported(listed, f).map((s) => [s.entry.program, s.entry.fingerprint, s.entry.shape['%s0']]);
    expect(keys({})).toHaveLength(4);
    expect(keys({ program: 'softmax', fingerprint: '1111111111111111' })).toEqual([
      ['softmax', '1111111111111111', 1024],
      ['softmax', '1111111111111111', 2048],
    ]);
    expect(keys({ sizes: { N: 2048 } })).toEqual([['softmax', '1111111111111111', 2048]]);
    expect(keys({ program: 'old' })).toEqual([]);
    expect(keys({ sizes: { M: 1 } })).toEqual([]);
  });
});
