import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync, utimesSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tuningEntry as entry } from './fixtures.js';
import {
  CorruptDatabaseError,
  DATABASE_FORMAT,
  DATABASE_VERSION,
  DatabaseLockTimeoutError,
  InvalidTuningEntryError,
  MAX_RUNNERS_UP,
  type NewTuningEntry,
  NewerDatabaseVersionError,
  TuningDatabase,
  defaultDatabasePath,
  pow2Bucket,
  tuningKey,
} from '../../src/autotune/db.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const writerScript = fileURLToPath(new URL('./db-writer.ts', import.meta.url));

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tilecraft-db-'));
  file = join(dir, 'tuning.json');
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const keyOf = (e: NewTuningEntry) => ({
  fingerprint: e.fingerprint,
  programHash: e.programHash,
  dtype: e.dtype,
  shape: e.shape,
  tilecraftVersion: e.tilecraftVersion,
});

/** Files in the database's directory other than the database itself. */
const leftovers = () => readdirSync(dir).filter((f) => f !== 'tuning.json');

describe('defaultDatabasePath', () => {
  it('prefers TILECRAFT_TUNING_DB, then XDG_CACHE_HOME, then ~/.cache', () => {
    const xdg = { XDG_CACHE_HOME: '/xdg' };
    expect(defaultDatabasePath({ TILECRAFT_TUNING_DB: '/db/t.json', ...xdg }, '/home/u', 'linux')).toBe('/db/t.json');
    expect(defaultDatabasePath(xdg, '/home/u', 'linux')).toBe('/xdg/tilecraft/tuning.json');
    expect(defaultDatabasePath({}, '/home/u', 'darwin')).toBe('/home/u/.cache/tilecraft/tuning.json');
  });

  it('treats empty variables as unset and ignores a relative XDG_CACHE_HOME, as the XDG spec asks', () => {
    expect(defaultDatabasePath({ TILECRAFT_TUNING_DB: '', XDG_CACHE_HOME: 'rel' }, '/home/u', 'linux')).toBe('/home/u/.cache/tilecraft/tuning.json');
  });

  it('uses LOCALAPPDATA on Windows', () => {
    expect(defaultDatabasePath({ LOCALAPPDATA: 'C:\\Users\\u\\AppData\\Local' }, 'C:\\Users\\u', 'win32')).toBe('C:\\Users\\u\\AppData\\Local\\tilecraft\\tuning.json');
    expect(defaultDatabasePath({}, 'C:\\Users\\u', 'win32')).toBe('C:\\Users\\u\\AppData\\Local\\tilecraft\\tuning.json');
  });
});

describe('tuningKey and buckets', () => {
  it('does not depend on the order of the shape\'s axes, and changes with every key field', () => {
    const k = keyOf(entry());
    const base = tuningKey(k);
    expect(base).toBe('0123456789abcdef|aaaabbbbccccdddd|f32|B=4,N=1000|0.1.0');
    expect(tuningKey({ ...k, shape: { N: 1000, B: 4 } })).toBe(tuningKey({ ...k, shape: { B: 4, N: 1000 } }));
    const variants = [
      { ...k, fingerprint: 'ffff' },
      { ...k, programHash: 'ffff' },
      { ...k, dtype: 'f16' as const },
      { ...k, shape: { B: 4, N: 1001 } },
      { ...k, tilecraftVersion: '0.2.0' },
    ];
    expect(new Set([base, ...variants.map(tuningKey)]).size).toBe(6);
  });

  it('escapes separators so distinct keys cannot collide', () => {
    const k = keyOf(entry());
    expect(tuningKey({ ...k, shape: { 'a=1,b': 2 } })).not.toBe(tuningKey({ ...k, shape: { a: 1, b: 2 } }));
    expect(tuningKey({ ...k, tilecraftVersion: '1|x' })).toContain('1%7Cx');
  });

  it('rejects malformed keys with a typed error', () => {
    const k = keyOf(entry());
    expect(() => tuningKey({ ...k, shape: { N: 1.5 } })).toThrow(InvalidTuningEntryError);
    expect(() => tuningKey({ ...k, fingerprint: '' })).toThrow(/fingerprint/);
  });

  it('rounds each size up to a power of two', () => {
    expect(pow2Bucket({ N: 1000, M: 1024, K: 1025, B: 1, Z: 0 })).toEqual({ N: 1024, M: 1024, K: 2048, B: 1, Z: 0 });
  });
});

describe('TuningDatabase', () => {
  it('round-trips an entry through the file, read back by a fresh instance', async () => {
    const writer = await TuningDatabase.open(join(dir, 'nested', 'deeper', 'tuning.json'));
    const e = entry();
    await writer.record(e);
    expect(writer.path).toBe(join(dir, 'nested', 'deeper', 'tuning.json'));

    const reader = await TuningDatabase.open(writer.path);
    const hit = await reader.lookup(keyOf(e));
    expect(hit?.match).toBe('exact');
    expect(hit?.key).toBe(tuningKey(keyOf(e)));
    const { recordedAt, ...rest } = hit!.entry;
    expect(rest).toEqual(e);
    expect(Date.now() - Date.parse(recordedAt)).toBeLessThan(60_000);

    const onDisk = JSON.parse(readFileSync(writer.path, 'utf8')) as { format: string; version: number; entries: Record<string, unknown> };
    expect(onDisk.format).toBe(DATABASE_FORMAT);
    expect(onDisk.version).toBe(DATABASE_VERSION);
    expect(Object.keys(onDisk.entries)).toEqual([tuningKey(keyOf(e))]);

    expect(await reader.lookup({ ...keyOf(e), dtype: 'f16' })).toBeUndefined();
    expect(await reader.lookup({ ...keyOf(e), tilecraftVersion: '0.2.0' }, { allowBucket: true })).toBeUndefined();
  });

  it('keeps which measurement a winner rests on, and reads entries that do not say', async () => {
    const db = await TuningDatabase.open(file);
    const screened = entry({ measuredBy: 'screen' });
    const older = entry({ dtype: 'f16' }); // as older versions wrote it: no measuredBy
    await db.record(screened, older);
    const reader = await TuningDatabase.open(file);
    expect((await reader.lookup(keyOf(screened)))!.entry.measuredBy).toBe('screen');
    expect((await reader.lookup(keyOf(older)))!.entry).not.toHaveProperty('measuredBy');
    await expect(db.record(entry({ measuredBy: 'guessed' as never }))).rejects.toThrow(InvalidTuningEntryError);
  });

  it('keeps a given recordedAt, replaces an entry with the same key, and keeps the fastest runners-up', async () => {
    const db = await TuningDatabase.open(file);
    await db.record(entry({ recordedAt: '2024-01-02T03:04:05.000Z' }));
    expect((await db.lookup(keyOf(entry())))?.entry.recordedAt).toBe('2024-01-02T03:04:05.000Z');

    const many = Array.from({ length: MAX_RUNNERS_UP + 3 }, (_, i) => ({
      schedule: { 'serial:Y': { kind: 'serial' as const, workgroupSize: 2 ** i } },
      medianMs: 10 - i,
    }));
    await db.record(entry({ medianMs: 0.25, runnersUp: many }));
    const list = await db.list();
    expect(list).toHaveLength(1);
    expect(list[0]!.entry.medianMs).toBe(0.25);
    expect(list[0]!.entry.runnersUp.map((r) => r.medianMs)).toEqual([3, 4, 5, 6, 7]);
  });

  it('falls back to the nearest entry in the same bucket only when asked, and says so', async () => {
    const db = await TuningDatabase.open(file);
    await db.record(entry({ shape: { B: 4, N: 1000 }, medianMs: 1 }), entry({ shape: { B: 4, N: 600 }, medianMs: 2 }));
    const want = { ...keyOf(entry()), shape: { B: 4, N: 900 } };

    expect(await db.lookup(want)).toBeUndefined();
    const hit = await db.lookup(want, { allowBucket: true });
    expect(hit?.match).toBe('bucket');
    expect(hit?.entry.shape).toEqual({ B: 4, N: 1000 });
    expect(hit?.match === 'bucket' && hit.bucket).toEqual({ B: 4, N: 1024 });

    // 1500 rounds up to 2048: another bucket
    expect(await db.lookup({ ...want, shape: { B: 4, N: 1500 } }, { allowBucket: true })).toBeUndefined();
    // an exact entry wins over bucket-mates
    expect((await db.lookup({ ...want, shape: { B: 4, N: 600 } }, { allowBucket: true }))?.match).toBe('exact');
    // a different program hash never matches, whatever the bucket
    expect(await db.lookup({ ...want, programHash: 'other' }, { allowBucket: true })).toBeUndefined();
  });

  it('uses an entry\'s recorded bucket over the bucket function', async () => {
    const db = await TuningDatabase.open(file);
    await db.record(entry({ shape: { B: 4, N: 1000 }, bucket: { B: 4, N: 4096 } }));
    expect((await db.lookup({ ...keyOf(entry()), shape: { B: 4, N: 3000 } }, { allowBucket: true }))?.entry.shape).toEqual({ B: 4, N: 1000 });
    expect(await db.lookup({ ...keyOf(entry()), shape: { B: 4, N: 1020 } }, { allowBucket: true })).toBeUndefined();
  });

  it('lists with filters and removes what matches', async () => {
    const db = await TuningDatabase.open(file);
    await db.record(
      entry({ program: 'softmax' }),
      entry({ program: 'softmax', dtype: 'f16' }),
      entry({ program: 'matmul', programHash: 'mm' }),
    );
    expect((await db.list()).map((s) => s.entry.program)).toEqual(['matmul', 'softmax', 'softmax']);
    expect(await db.list({ program: 'softmax', dtype: 'f16' })).toHaveLength(1);
    expect(await db.list({ fingerprint: 'nope' })).toHaveLength(0);

    await expect(db.remove({})).rejects.toThrow(InvalidTuningEntryError);
    expect(await db.remove({ program: 'softmax' })).toBe(2);
    const [left] = await db.list();
    expect(left?.entry.program).toBe('matmul');
    expect(await db.remove({ keys: [left!.key] })).toBe(1);
    expect(await db.list()).toEqual([]);
  });

  it('rejects a malformed entry before writing anything', async () => {
    const db = await TuningDatabase.open(file);
    await db.record(entry());
    const before = readFileSync(file, 'utf8');
    await expect(db.record(entry({ program: 'x', shape: { N: 7 } }), entry({ medianMs: Number.NaN }))).rejects.toThrow(/medianMs/);
    await expect(db.record(entry({ schedule: { '0': 3 } as never }))).rejects.toThrow(InvalidTuningEntryError);
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('loses nothing when one process records many entries at once', async () => {
    const dbs = await Promise.all([1, 2, 3].map(() => TuningDatabase.open(file)));
    await Promise.all(Array.from({ length: 30 }, (_, i) => dbs[i % 3]!.record(entry({ shape: { B: 1, N: i + 1 } }))));
    expect(await dbs[0]!.list()).toHaveLength(30);
    expect(leftovers()).toEqual([]);
  });

  it('loses nothing when 8 processes record 25 entries each at the same time, and readers always see a whole file', async () => {
    const writers = 8;
    const perWriter = 25;
    const children = Array.from({ length: writers }, (_, w) =>
      spawn(process.execPath, ['--import', 'tsx', writerScript, file, String(w), String(perWriter)], { cwd: repoRoot }),
    );
    const ended = children.map(exitOf);
    // all writers start together, after their (slow) start-up
    await Promise.all(children.map((c) => lineFrom(c, 'ready')));
    for (const c of children) c.stdin.write('go\n');

    let reads = 0;
    let running = true;
    const allDone = Promise.all(ended).finally(() => (running = false));
    while (running) {
      let text: string | undefined;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        // not written yet
      }
      if (text !== undefined) {
        expect(() => JSON.parse(text)).not.toThrow();
        reads++;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    const results = await allDone;
    for (const r of results) expect(r, r.stderr).toMatchObject({ code: 0 });
    expect(reads).toBeGreaterThan(0);

    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { entries: Record<string, unknown> };
    expect(Object.keys(parsed.entries)).toHaveLength(writers * perWriter);
    const db = await TuningDatabase.open(file);
    for (let w = 0; w < writers; w++) {
      const mine = await db.list({ program: `writer-${w}` });
      expect(mine.map((s) => s.entry.shape.N).sort((a, b) => a! - b!)).toEqual(Array.from({ length: perWriter }, (_, i) => i + 1));
    }
    expect(leftovers()).toEqual([]);
  });

  it('breaks a lock left by a dead process at once', async () => {
    const pid = await deadPid();
    writeFileSync(`${file}.lock`, JSON.stringify({ pid, host: hostname(), time: Date.now(), token: 'dead' }));
    const db = await TuningDatabase.open(file, { lock: { staleMs: 600_000, timeoutMs: 5_000 } });
    await db.record(entry());
    expect(await db.list()).toHaveLength(1);
    expect(leftovers()).toEqual([]);
  });

  it('breaks a lock older than the stale limit even if its pid is alive', async () => {
    writeFileSync(`${file}.lock`, JSON.stringify({ pid: process.pid, host: hostname(), time: Date.now() - 120_000, token: 'old' }));
    const db = await TuningDatabase.open(file, { lock: { staleMs: 30_000, timeoutMs: 5_000 } });
    await db.record(entry());
    expect(await db.list()).toHaveLength(1);
    expect(leftovers()).toEqual([]);
  });

  it('waits for a live, fresh lock and times out with a typed error, leaving that lock alone', async () => {
    const lock = JSON.stringify({ pid: process.pid, host: hostname(), time: Date.now(), token: 'live' });
    writeFileSync(`${file}.lock`, lock);
    const db = await TuningDatabase.open(file, { lock: { staleMs: 600_000, timeoutMs: 300 } });
    const err = await db.record(entry()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatabaseLockTimeoutError);
    expect((err as Error).message).toContain(`pid ${process.pid}`);
    expect((err as Error).message).toContain('delete');
    expect(readFileSync(`${file}.lock`, 'utf8')).toBe(lock);
    expect(existsSync(file)).toBe(false);
  });

  it.each([
    ['bad JSON', '{"format": "tilecraft-tuning", "version": 1, "entries": {'],
    ['a wrong format marker', JSON.stringify({ format: 'something-else', version: 1, entries: {} })],
    ['entries that are not an object', JSON.stringify({ format: DATABASE_FORMAT, version: DATABASE_VERSION, entries: [] })],
  ])('reports a file with %s on open, leaves it, and moves it aside when recording into a fresh file', async (_, text) => {
    writeFileSync(file, text);
    const problems: CorruptDatabaseError[] = [];
    const db = await TuningDatabase.open(file, { onCorrupt: (p) => problems.push(p) });
    expect(problems).toHaveLength(1);
    expect(problems[0]!.movedTo).toBeUndefined();
    expect(readFileSync(file, 'utf8')).toBe(text);

    await db.record(entry());
    expect(problems).toHaveLength(2);
    const problem = problems[1]!;
    const movedTo = problem.movedTo!;
    expect(problem.message).toMatch(new RegExp(`^tuning database ${escapeRegExp(file)} was corrupt \\(.+\\); moved it to ${escapeRegExp(movedTo)}`));
    expect(movedTo).toMatch(/tuning\.json\.corrupt-[0-9T-]+Z$/);
    expect(readFileSync(movedTo, 'utf8')).toBe(text);
    expect(await db.list()).toHaveLength(1);
    expect(problems).toHaveLength(2);
  });

  it('throws CorruptDatabaseError on open without a callback; a writer moves the file aside, so a retry works', async () => {
    writeFileSync(file, 'not json');
    const err = await TuningDatabase.open(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptDatabaseError);
    expect((err as CorruptDatabaseError).reason).toMatch(/not valid JSON/);

    const db = await TuningDatabase.open(file, { onCorrupt: () => undefined });
    await db.record(entry());
    expect(await (await TuningDatabase.open(file)).list()).toHaveLength(1);
    expect(leftovers().filter((f) => f.includes('.corrupt-')).map((f) => readFileSync(join(dir, f), 'utf8'))).toEqual(['not json']);
  });

  it('finds corruption that appears after open, on the next record', async () => {
    const problems: CorruptDatabaseError[] = [];
    const db = await TuningDatabase.open(file, { onCorrupt: (p) => problems.push(p) });
    await db.record(entry());
    writeFileSync(file, '[]');
    await db.record(entry({ program: 'again', programHash: 'again' }));
    expect(problems.map((p) => p.reason)).toEqual(['the top level is not a JSON object']);
    expect((await db.list()).map((s) => s.entry.program)).toEqual(['again']);
  });

  it('neither reads nor overwrites a database from a newer tilecraft', async () => {
    const db = await TuningDatabase.open(file);
    const newer = JSON.stringify({ format: DATABASE_FORMAT, version: DATABASE_VERSION + 1, entries: { whatever: [1, 2, 3] } });
    writeFileSync(file, newer);

    await expect(TuningDatabase.open(file)).rejects.toThrow(NewerDatabaseVersionError);
    await expect(db.record(entry())).rejects.toThrow(new RegExp(`format version ${DATABASE_VERSION + 1}.*Upgrade tilecraft`, 's'));
    await expect(db.lookup(keyOf(entry()))).rejects.toThrow(NewerDatabaseVersionError);
    await expect(db.remove({ program: 'softmax' })).rejects.toThrow(NewerDatabaseVersionError);
    expect(readFileSync(file, 'utf8')).toBe(newer);
    expect(leftovers()).toEqual([]);
  });

  // Version 2 keyed programs canonically but schedules by group position ("0"); version 1 keyed
  // programs by their own names. Either way a replayed schedule could reach the wrong group.
  const olderVersions = Array.from({ length: DATABASE_VERSION - 1 }, (_, i) => i + 1);
  it('is at least version 3: schedules keyed by group position are an older format', () => {
    expect(olderVersions).toContain(2);
  });

  it.each(olderVersions)('reports the entries of format %i as stale, never looks them up, and keeps them when writing', async (version) => {
    const positional = { '0': { kind: 'rows' as const, threadsPerRow: 64, workgroupSize: 256, subgroups: false, splitSteps: 1, stageSteps: 0, rowsPerLane: 1, unrollSteps: 0 } };
    const old = entry({ program: 'old-keys', schedule: positional, runnersUp: [] });
    writeFileSync(file, JSON.stringify({ format: DATABASE_FORMAT, version, entries: { [tuningKey(old)]: { ...old, recordedAt: '2026-01-01T00:00:00.000Z' } } }));
    const db = await TuningDatabase.open(file);
    expect(await db.lookup(keyOf(old))).toBeUndefined();
    expect(await db.lookup(keyOf(old), { allowBucket: true })).toBeUndefined();
    expect((await db.list()).map((s) => [s.entry.program, s.stale])).toEqual([['old-keys', true]]);

    await db.record(entry({ program: 'new', programHash: 'eeeeffff00001111' }));
    const onDisk = JSON.parse(readFileSync(file, 'utf8')) as { version: number; entries: Record<string, unknown>; stale: Record<string, unknown> };
    expect(onDisk.version).toBe(DATABASE_VERSION);
    expect(Object.keys(onDisk.entries)).toHaveLength(1);
    expect(Object.keys(onDisk.stale)).toEqual([tuningKey(old)]);
    expect(await (await TuningDatabase.open(file)).lookup(keyOf(old))).toBeUndefined();
    expect((await db.list()).map((s) => [s.entry.program, s.stale ?? false])).toEqual([['new', false], ['old-keys', true]]);
    expect(await db.remove({ program: 'old-keys' })).toBe(1);
  });

  it('keeps fields it does not know when rewriting an entry someone else wrote', async () => {
    const db = await TuningDatabase.open(file);
    await db.record(entry());
    const onDisk = JSON.parse(readFileSync(file, 'utf8')) as { entries: Record<string, Record<string, unknown>> };
    for (const e of Object.values(onDisk.entries)) e.clock = 'device';
    writeFileSync(file, JSON.stringify(onDisk));

    await db.record(entry({ programHash: 'second' }));
    const again = JSON.parse(readFileSync(file, 'utf8')) as { entries: Record<string, Record<string, unknown>> };
    expect(again.entries[tuningKey(keyOf(entry()))]?.clock).toBe('device');
  });
});

describe('TuningDatabase with bad entries', () => {
  const fileWith = (entries: Record<string, unknown>, prefix = '') =>
    writeFileSync(file, prefix + JSON.stringify({ format: DATABASE_FORMAT, version: DATABASE_VERSION, entries }));
  const good = entry();
  const other = entry({ program: 'other', programHash: 'other-hash' });
  const stored = (e: NewTuningEntry) => ({ ...e, recordedAt: '2026-01-01T00:00:00.000Z' });

  it.each([
    ['an unknown dtype', { dtype: 'f128' }, /dtype/],
    ['a string medianMs', { medianMs: '0.5' }, /medianMs/],
    ['a runner-up without a median', { runnersUp: [{ schedule: {} }] }, /runnersUp\.0\.medianMs/],
  ])('skips an entry with %s, reports it, and keeps every other entry usable', async (_, bad, reason) => {
    fileWith({ [tuningKey(good)]: stored(good), 'bad-key': { ...stored(other), ...bad } });
    const reports: { key: string; reason: string }[] = [];
    const corrupt: unknown[] = [];
    const db = await TuningDatabase.open(file, { onCorrupt: (p) => corrupt.push(p), onInvalidEntry: (p) => reports.push(p) });

    expect(corrupt).toEqual([]);
    expect((await db.lookup(keyOf(good)))?.match).toBe('exact');
    expect((await db.list()).map((s) => s.entry.program)).toEqual(['softmax']);
    expect(reports.map((r) => r.key)).toEqual(['bad-key']);
    expect(reports[0]!.reason).toMatch(reason);
    expect(leftovers()).toEqual([]);
  });

  it('keeps a bad entry in the file, unchanged, when it writes', async () => {
    const bad = { ...stored(other), dtype: 'f128' };
    fileWith({ [tuningKey(good)]: stored(good), 'bad-key': bad });
    const db = await TuningDatabase.open(file, { onInvalidEntry: () => undefined });
    await db.record(entry({ program: 'third', programHash: 'third-hash' }));
    await db.remove({ program: 'softmax' });

    const onDisk = JSON.parse(readFileSync(file, 'utf8')) as { entries: Record<string, unknown> };
    expect(onDisk.entries['bad-key']).toEqual(bad);
    expect(Object.keys(onDisk.entries)).toHaveLength(2);
    expect(leftovers()).toEqual([]);
  });

  it('looks up the same way on every call without a callback (no throw, nothing moved)', async () => {
    fileWith({ [tuningKey(good)]: stored(good), 'bad-key': { ...stored(other), medianMs: 'slow' } });
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      for (let i = 0; i < 2; i++) {
        const db = await TuningDatabase.open(file);
        expect((await db.lookup(keyOf(good)))?.match).toBe('exact');
      }
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.some((w) => w.includes('bad-key'))).toBe(true);
    expect(leftovers()).toEqual([]);
  });

  it('reads a file that starts with a UTF-8 byte order mark', async () => {
    fileWith({ [tuningKey(good)]: stored(good) }, '\uFEFF');
    const corrupt: unknown[] = [];
    const db = await TuningDatabase.open(file, { onCorrupt: (p) => corrupt.push(p) });
    expect((await db.lookup(keyOf(good)))?.match).toBe('exact');
    expect(corrupt).toEqual([]);
    await db.record(other);
    expect(readFileSync(file, 'utf8').startsWith('{')).toBe(true);
    expect((await db.list()).map((s) => s.entry.program)).toEqual(['other', 'softmax']);
  });
});

describe('TuningDatabase reads are read-only', () => {
  it('neither moves a corrupt file aside nor creates anything when opening, looking up or listing', async () => {
    writeFileSync(file, 'not json');
    const problems: CorruptDatabaseError[] = [];
    const db = await TuningDatabase.open(file, { onCorrupt: (p) => problems.push(p) });
    expect(await db.lookup(keyOf(entry()), { allowBucket: true })).toBeUndefined();
    expect(await db.list()).toEqual([]);

    expect(readFileSync(file, 'utf8')).toBe('not json');
    expect(leftovers()).toEqual([]);
    expect(problems.length).toBeGreaterThan(0);
    for (const p of problems) {
      expect(p.movedTo).toBeUndefined();
      expect(p.message).toMatch(/not valid JSON/);
      expect(p.message).toMatch(/left in place/);
    }
  });

  it('throws the same error on every read without a callback, leaving the file alone', async () => {
    writeFileSync(file, 'not json');
    for (let i = 0; i < 2; i++) {
      const err = await TuningDatabase.open(file).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CorruptDatabaseError);
      expect((err as CorruptDatabaseError).movedTo).toBeUndefined();
    }
    expect(readFileSync(file, 'utf8')).toBe('not json');
    expect(leftovers()).toEqual([]);
  });

  it('does not create a missing directory until something is recorded', async () => {
    const nested = join(dir, 'missing', 'deeper', 'tuning.json');
    const db = await TuningDatabase.open(nested);
    expect(await db.list()).toEqual([]);
    expect(await db.lookup(keyOf(entry()))).toBeUndefined();
    expect(existsSync(join(dir, 'missing'))).toBe(false);
    await db.record(entry());
    expect(await db.list()).toHaveLength(1);
  });
});

describe('orphaned temporary files', () => {
  const temp = (host: string | undefined, pid: number) =>
    join(dir, `.tuning.json.${host === undefined ? '' : `${encodeURIComponent(host).replace(/\./g, '%2E')}.`}${pid}.0badc0de.tmp`);
  const age = (path: string, ms: number) => {
    const t = new Date(Date.now() - ms);
    utimesSync(path, t, t);
  };

  it('a writer taking the lock removes old temporaries of dead writers on this host, and nothing else', async () => {
    const dead = await deadPid();
    const orphan = temp(hostname(), dead);
    const legacyOrphan = temp(undefined, dead);
    const fresh = temp(hostname(), dead + 1_000_000);
    const alive = temp(hostname(), process.pid);
    const elsewhereRecent = temp('other-host.example', dead);
    const elsewhereAncient = temp('other-host.example', dead + 1);
    const unrelated = join(dir, '.other.json.123.0badc0de.tmp');
    for (const p of [orphan, legacyOrphan, fresh, alive, elsewhereRecent, elsewhereAncient, unrelated]) writeFileSync(p, '{"partial');
    for (const p of [orphan, legacyOrphan, alive, elsewhereRecent, unrelated]) age(p, 10 * 60_000);
    age(elsewhereAncient, 48 * 3600_000);

    const db = await TuningDatabase.open(file);
    await db.list();
    expect(existsSync(orphan)).toBe(true); // reads never clean

    await db.record(entry());
    for (const p of [orphan, legacyOrphan, elsewhereAncient]) expect(existsSync(p), p).toBe(false);
    for (const p of [fresh, alive, elsewhereRecent, unrelated]) expect(existsSync(p), p).toBe(true);
    expect(await db.list()).toHaveLength(1);
  });
});

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function lineFrom(child: ChildProcessWithoutNullStreams, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.split('\n').includes(line)) resolve();
    });
    child.on('exit', (code) => reject(new Error(`writer exited (${code}) before saying ${line}: ${err}`)));
  });
}

function exitOf(child: ChildProcessWithoutNullStreams): Promise<{ code: number | null; stderr: string }> {
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stderr })));
}

/** The pid of a process that has already exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => child.on('exit', r));
  return child.pid!;
}
