import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TuningDatabase } from '../../src/autotune/db.js';
import { DATABASE_FORMAT, DATABASE_VERSION, type InvalidStoredEntry, ShippedDatabaseError, type TuningEntry, tuningKey, tuningSourceFromJson } from '../../src/autotune/entries.js';
import { tuningKeyFor } from '../../src/autotune/lookup.js';
import { parseProgram } from '../../src/dsl/text/parse.js';
import { readTuningSourceFile } from '../../src/node.js';
import { Executable, tunedScheduleOf } from '../../src/runtime/executable.js';
import { gpu } from '../helpers/device.js';
import { syntheticDeviceInfo } from './fixtures.js';

const matmul = parseProgram('program matmul(M, N, K) {\n  input A: f32[m: M, k: K]\n  input B: f32[k: K, n: N]\n  output C = sum[k](A * B)\n}', 'matmul.tc');
const sizes = { M: 64, N: 32, K: 128 };

const knobs = (blockK: number) => ({
  'contraction:C': { kind: 'contraction' as const, blockM: 16, blockN: 16, blockK, threadM: 2, threadN: 2, staging: 'direct' as const, doubleBuffer: false, unrollK: true, splitK: 1, vectorWidth: 4 as const, vectorK: 1 as const, shuffleA: false, tensorCores: false },
});

function entry(at: typeof sizes, blockK: number, info = syntheticDeviceInfo): TuningEntry {
  return {
    ...tuningKeyFor(info, matmul, at),
    program: 'matmul',
    sizes: at,
    schedule: knobs(blockK),
    medianMs: 1,
    spread: 0.01,
    candidates: 4,
    strategy: 'exhaustive',
    tieBreak: 'fastest',
    toleranceBand: 0.03,
    recordedAt: '2026-11-01T00:00:00.000Z',
    runnersUp: [],
  };
}

const databaseJson = (...entries: unknown[]) =>
  JSON.stringify({ format: DATABASE_FORMAT, version: DATABASE_VERSION, entries: Object.fromEntries(entries.map((e, i) => [`k${i}`, e])) });

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tilecraft-shipped-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('a shipped tuning database', () => {
  it('is used when the user\'s own database has no entry, exact or by bucket', async () => {
    const own = await TuningDatabase.open(join(dir, 'own.json'));
    const shipped = tuningSourceFromJson(databaseJson(entry(sizes, 8)), { name: 'pkg/tuning.json' });
    expect(await tunedScheduleOf([own, shipped], syntheticDeviceInfo, matmul, sizes)).toEqual({ schedule: knobs(8), match: 'exact' });
    expect(await tunedScheduleOf([own, shipped], syntheticDeviceInfo, matmul, { M: 60, N: 30, K: 100 })).toEqual({ schedule: knobs(8), match: 'bucket' });
    // parsed JSON does as well as text
    const fromObject = tuningSourceFromJson(JSON.parse(databaseJson(entry(sizes, 8))), { name: 'pkg/tuning.json' });
    expect(await fromObject.tunedSchedule(syntheticDeviceInfo, matmul, sizes)).toEqual({ schedule: knobs(8), match: 'exact' });
  });

  it('loses to the user\'s own entry of the same kind; an exact match anywhere beats a bucket match', async () => {
    const own = await TuningDatabase.open(join(dir, 'own.json'));
    await own.record(entry(sizes, 16));
    const shipped = tuningSourceFromJson(databaseJson(entry(sizes, 8), entry({ M: 60, N: 30, K: 100 }, 8)), { name: 'pkg/tuning.json' });
    expect(await tunedScheduleOf([own, shipped], syntheticDeviceInfo, matmul, sizes)).toEqual({ schedule: knobs(16), match: 'exact' });
    // own has 64x32x128 (a bucket match for 60x30x100); shipped has 60x30x100 exactly
    expect(await tunedScheduleOf([own, shipped], syntheticDeviceInfo, matmul, { M: 60, N: 30, K: 100 })).toEqual({ schedule: knobs(8), match: 'exact' });
    // both by bucket only: the user's own
    expect(await tunedScheduleOf([own, shipped], syntheticDeviceInfo, matmul, { M: 50, N: 20, K: 90 })).toEqual({ schedule: knobs(16), match: 'bucket' });
    // in the other order, the shipped one
    expect(await tunedScheduleOf([shipped, own], syntheticDeviceInfo, matmul, { M: 50, N: 20, K: 90 })).toEqual({ schedule: knobs(8), match: 'bucket' });
  });

  it('that is not a database, or is of a newer format, is a typed error naming it', async () => {
    const bad = (json: unknown) => () => tuningSourceFromJson(json, { name: 'pkg/tuning.json' });
    expect(bad('{ not json')).toThrow(ShippedDatabaseError);
    expect(bad('{ not json')).toThrow(/shipped tuning database pkg\/tuning\.json cannot be used \(not valid JSON/);
    expect(bad({ format: 'other', entries: {} })).toThrow(/format is "other"/);
    expect(bad({ format: DATABASE_FORMAT, version: DATABASE_VERSION + 1, entries: {} })).toThrow(/newer tilecraft/);
    await expect(readTuningSourceFile(join(dir, 'missing.json'))).rejects.toThrow(ShippedDatabaseError);
    await expect(readTuningSourceFile(join(dir, 'missing.json'))).rejects.toThrow(/missing\.json cannot be used \(cannot be read/);
  });

  it('skips and reports a malformed entry, uses the rest, and never writes the file', async () => {
    const file = join(dir, 'tuning.json');
    const text = databaseJson({ ...entry(sizes, 8), medianMs: 'fast' }, entry({ M: 64, N: 64, K: 64 }, 8));
    writeFileSync(file, text);
    const before = statSync(file).mtimeMs;
    const problems: InvalidStoredEntry[] = [];
    const shipped = await readTuningSourceFile(file, { onInvalidEntry: (p) => problems.push(p) });
    expect(problems.map((p) => [p.name, p.path, p.key])).toEqual([['InvalidStoredEntry', file, 'k0']]);
    expect(problems[0]!.message).toMatch(/medianMs/);
    expect(await shipped.tunedSchedule(syntheticDeviceInfo, matmul, sizes)).toBeUndefined();
    expect(await shipped.tunedSchedule(syntheticDeviceInfo, matmul, { M: 64, N: 64, K: 64 })).toEqual({ schedule: knobs(8), match: 'exact' });
    expect(shipped.list().map((s) => s.key)).toEqual([tuningKey(entry({ M: 64, N: 64, K: 64 }, 8))]);
    expect(readFileSync(file, 'utf8')).toBe(text);
    expect(statSync(file).mtimeMs).toBe(before);
    expect(readdirSync(dir)).toEqual(['tuning.json']);
  });

  it('gives Executable.create its schedule on a real device after an empty own database', { timeout: 60_000 }, async () => {
    const device = await gpu();
    const own = await TuningDatabase.open(join(dir, 'own.json'));
    const shipped = tuningSourceFromJson(databaseJson(entry(sizes, 8, device.info)), { name: 'pkg/tuning.json' });
    const exe = await Executable.create(device, matmul, sizes, { tuning: [own, shipped] });
    expect(exe.scheduleOrigin).toBe('tuned');
    expect(exe.plan.schedule['contraction:C']).toMatchObject({ blockK: 8, blockM: 16 });
    const plain = await Executable.create(device, matmul, sizes, { tuning: [own] });
    expect(plain.scheduleOrigin).toBe('default');
    expect(readdirSync(dir)).toEqual([]);
  });
});
