import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { acquireLock, ensureDirectory } from '../../src/autotune/file-lock.js';

const timedOut = (holder: string, waited: number) => new Error(`lock held by ${holder} after ${waited} ms`);

describe('the lock file', () => {
  it('is created with its owner already written in it, and leaves nothing else behind', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tc-lock-'));
    const lock = join(dir, 'db.json.lock');
    const token = await acquireLock(lock, {}, timedOut);
    const content = JSON.parse(readFileSync(lock, 'utf8')) as { pid: number; token: string };
    expect(content).toMatchObject({ pid: process.pid, token });
    expect(readdirSync(dir)).toEqual(['db.json.lock']);
  });

  it('an empty lock (its writer died before writing its record) is broken in seconds, not after the stale time', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tc-lock-'));
    const lock = join(dir, 'db.json.lock');
    writeFileSync(lock, '');
    const past = (Date.now() - 3000) / 1000;
    utimesSync(lock, past, past);
    const started = Date.now();
    await acquireLock(lock, { staleMs: 30_000, timeoutMs: 20_000 }, timedOut);
    expect(Date.now() - started).toBeLessThan(1500);
  });
});

describe('ensureDirectory', () => {
  it('creates missing parents level by level, and fails (never hangs) where a directory cannot be made', async () => {
    const base = mkdtempSync(join(tmpdir(), 'tilecraft-ensure-'));
    await ensureDirectory(join(base, 'a', 'b', 'c'));
    expect(statSync(join(base, 'a', 'b', 'c')).isDirectory()).toBe(true);
    await ensureDirectory(join(base, 'a', 'b', 'c')); // already there
    writeFileSync(join(base, 'file'), '');
    await expect(ensureDirectory(join(base, 'file', 'x'))).rejects.toMatchObject({ code: 'ENOTDIR' });
    // Node's recursive mkdir loops forever here; this answers at once
    if (existsSync('/proc/self')) await expect(ensureDirectory('/proc/tilecraft-no/deeper')).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
