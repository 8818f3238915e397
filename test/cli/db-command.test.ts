import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DATABASE_FORMAT, DATABASE_VERSION, type TuningEntry, tuningKey } from '../../src/autotune/entries.js';
import { olderThan } from '../../src/cli/db-command.js';
import { VERSION } from '../../src/version.js';
import { storedEntry } from '../autotune/fixtures.js';
import { autotune } from './autotune-process.js';

const TIMEOUT = { timeout: 60_000 };

const entry = (size: number, over: Partial<TuningEntry> = {}): TuningEntry => storedEntry({ sizes: { N: size }, shape: { '%s0': size }, tilecraftVersion: VERSION, ...over });

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tilecraft-dbcli-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Writes a database file by hand, the entries keyed as the tuner keys them. */
function database(name: string, ...entries: TuningEntry[]): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify({ format: DATABASE_FORMAT, version: DATABASE_VERSION, entries: Object.fromEntries(entries.map((e) => [tuningKey(e), e])) }, null, 2));
  return file;
}

const entriesOf = (file: string): TuningEntry[] => Object.values((JSON.parse(readFileSync(file, 'utf8')) as { entries: Record<string, TuningEntry> }).entries);

describe('autotune db merge', () => {
  it('writes the same file whatever the order of the inputs, keeping the fastest entry of each key', TIMEOUT, () => {
    const a = database('a.json', entry(1024, { medianMs: 0.5 }), entry(4096));
    const b = database('b.json', entry(1024, { medianMs: 0.45, spread: 0.1 }), entry(2048));
    const c = database('c.json', entry(1024, { medianMs: 0.45, spread: 0.05 }), entry(4096, { fingerprint: '2222222222222222' }));
    const first = autotune('db', 'merge', join(dir, 'out1.json'), a, b, c);
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    expect(first.stdout).toContain('merged 3 databases');
    expect(first.stdout).toContain('4 entries');
    expect(autotune('db', 'merge', join(dir, 'out2.json'), c, a, b).status).toBe(0);
    expect(readFileSync(join(dir, 'out2.json'), 'utf8')).toBe(readFileSync(join(dir, 'out1.json'), 'utf8'));
    expect(entriesOf(join(dir, 'out1.json')).find((e) => e.shape['%s0'] === 1024)).toMatchObject({ medianMs: 0.45, spread: 0.05 });
    // no lock or temporary file is left behind
    expect(readdirSync(dir).sort()).toEqual(['a.json', 'b.json', 'c.json', 'out1.json', 'out2.json']);
  });

  it('merges into an input named as the output, and refuses to replace another existing file without --force', TIMEOUT, () => {
    const a = database('a.json', entry(1024));
    const b = database('b.json', entry(2048));
    const before = readFileSync(b, 'utf8');
    const refused = autotune('db', 'merge', b, a);
    expect(refused.status).toBe(2);
    expect(refused.stderr.trim().split('\n')).toEqual([`autotune: ${b} exists; name it among the inputs to merge into it, or pass --force to replace it`]);
    expect(readFileSync(b, 'utf8')).toBe(before);
    expect(autotune('db', 'merge', b, b, a).status).toBe(0);
    expect(entriesOf(b).map((e) => e.shape['%s0']).sort()).toEqual([1024, 2048]);
    const missing = autotune('db', 'merge', join(dir, 'out.json'), a, join(dir, 'nope.json'));
    expect(missing.status).toBe(2);
    expect(missing.stderr.trim()).toBe(`autotune: input ${join(dir, 'nope.json')} does not exist`);
    expect(existsSync(join(dir, 'out.json'))).toBe(false);
  });
});

describe('autotune db prune', () => {
  it('prints what it would drop with --dry-run and writes nothing, then drops it', TIMEOUT, () => {
    const file = database(
      'tuning.json',
      entry(1024),
      entry(2048, { tilecraftVersion: '0.0.1' }),
      entry(4096, { recordedAt: '2026-01-01T00:00:00.000Z' }),
      entry(8192, { fingerprint: '2222222222222222' }),
    );
    const before = readFileSync(file, 'utf8');
    const dry = autotune('db', 'prune', '--db', file, '--version-mismatch', '--older-than', '2026-06-01', '--dry-run');
    expect(dry.status).toBe(0);
    expect(dry.stdout).toContain('would drop softmax f32 N=2048 on Test GPU (webgpu, test): tilecraft 0.0.1');
    expect(dry.stdout).toContain('would drop softmax f32 N=4096 on Test GPU (webgpu, test): recorded 2026-01-01T00:00:00.000Z');
    expect(dry.stdout).toContain('would drop 2 of 4 entries');
    expect(readFileSync(file, 'utf8')).toBe(before);
    const real = autotune('db', 'prune', '--db', file, '--version-mismatch', '--device', '2222222222222222');
    expect(real.status).toBe(0);
    expect(real.stdout).toContain('dropped 2 of 4 entries');
    expect(entriesOf(file).map((e) => e.shape['%s0']).sort()).toEqual([1024, 4096]);
    expect(readdirSync(dir)).toEqual(['tuning.json']);
  });

  it('exits 2 with one line without a criterion or with a bad age', TIMEOUT, () => {
    const file = database('tuning.json', entry(1024));
    const none = autotune('db', 'prune', '--db', file);
    expect(none.status).toBe(2);
    expect(none.stderr.trim()).toBe('autotune: db prune needs at least one of --older-than, --version-mismatch, --device');
    const bad = autotune('db', 'prune', '--db', file, '--older-than', 'soon');
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('reads ages in hours, days and weeks, and dates', () => {
    const now = Date.parse('2026-12-02T00:00:00.000Z');
    expect(olderThan('30d', now).toISOString()).toBe('2026-11-02T00:00:00.000Z');
    expect(olderThan('2w', now).toISOString()).toBe('2026-11-18T00:00:00.000Z');
    expect(olderThan('12h', now).toISOString()).toBe('2026-12-01T12:00:00.000Z');
    expect(olderThan('2026-11-01', now).toISOString()).toBe('2026-11-01T00:00:00.000Z');
    expect(() => olderThan('30', now)).toThrow(/should be an age/);
  });
});

describe('autotune db export', () => {
  it('writes the matching subset as a database a package can ship, and never replaces a file unasked', TIMEOUT, () => {
    const file = database('tuning.json', entry(1024), entry(2048), entry(1024, { fingerprint: '2222222222222222' }), entry(1024, { program: 'layernorm', programHash: 'bbbb' }));
    const out = join(dir, 'ship.json');
    const r = autotune('db', 'export', '--db', file, '--out', out, '--program', 'softmax', '--device', '1111111111111111', '--shape', 'N=1024');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('exported 1 entry');
    const shipped = JSON.parse(readFileSync(out, 'utf8')) as { format: string; version: number; entries: Record<string, TuningEntry> };
    expect(shipped).toMatchObject({ format: DATABASE_FORMAT, version: DATABASE_VERSION });
    expect(Object.keys(shipped.entries)).toEqual([tuningKey(entry(1024))]);
    const again = autotune('db', 'export', '--db', file, '--out', out);
    expect(again.status).toBe(2);
    expect(again.stderr.trim()).toBe(`autotune: ${out} exists; pass --force to replace it`);
    expect(autotune('db', 'export', '--db', file, '--out', out, '--force').status).toBe(0);
    expect(entriesOf(out)).toHaveLength(4);
    const none = autotune('db', 'export', '--db', file, '--out', join(dir, 'none.json'), '--program', 'matmul');
    expect(none.status).toBe(1);
    expect(existsSync(join(dir, 'none.json'))).toBe(false);
  });
});
