import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { acquireLock, ensureDirectory, removeOrphanedTemporaries } from '../../src/autotune/file-lock.js';

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
    await acquireLock(lock, { staleMs: 30_000, timeoutMs: 20_000 }, timedOut);
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

// A time-out shorter than the stale time: taking the lock at all proves the owner was judged
// gone, with no clock in the test to make a slow machine fail it.
describe('locks whose owner is gone or cannot be asked', () => {
  const fresh = () => join(mkdtempSync(join(tmpdir(), 'tc-lock-')), 'db.json.lock');
  const record = (pid: number, host: string, time: number) => JSON.stringify({ pid, host, time, token: 'theirs' });
  const age = (path: string, ms: number) => {
    const t = (Date.now() - ms) / 1000;
    utimesSync(path, t, t);
  };

  it('an empty lock just created is broken within seconds, not after the 30 s stale time', async () => {
    const lock = fresh();
    writeFileSync(lock, '');
    await acquireLock(lock, { staleMs: 30_000, timeoutMs: 20_000 }, timedOut);
  });

  it('a lock of a dead process on this host is broken at once, however fresh', async () => {
    const lock = fresh();
    writeFileSync(lock, record(await deadPid(), hostname(), Date.now()));
    await acquireLock(lock, { staleMs: 600_000, timeoutMs: 20_000 }, timedOut);
  });

  it('a lock from another host stamped in the future ages by its file: an old one is broken', async () => {
    const lock = fresh();
    writeFileSync(lock, record(12345, 'other-host.example', Date.now() + 24 * 3600_000));
    age(lock, 120_000);
    await acquireLock(lock, { staleMs: 30_000, timeoutMs: 20_000 }, timedOut);
  });

  it('a fresh lock from another host is waited for only up to the time-out, and the error says why it was not broken', async () => {
    const lock = fresh();
    const text = record(12345, 'other-host.example', Date.now() + 24 * 3600_000);
    writeFileSync(lock, text);
    const err = await acquireLock(lock, { staleMs: 30_000, timeoutMs: 300 }, timedOut).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/pid 12345 on other-host\.example .*another machine.*in the future/);
    expect(readFileSync(lock, 'utf8')).toBe(text);
  });
});

/** The pid of a process that has already exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => child.on('exit', r));
  return child.pid!;
}

describe('records of lock takers killed on this host', () => {
  it('a lock record and a lock being broken, left by dead processes, are removed by the next taker; a live one\'s are kept', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tc-lock-'));
    const lock = join(dir, 'db.json.lock');
    const dead = await deadPid();
    const left = [`${lock}.${hostname()}.${dead}.0badc0de.new`, `${lock}.${hostname()}.${dead}.0badc0de.stale`];
    const kept = [`${lock}.${hostname()}.${process.pid}.0badc0de.stale`, `${lock}.other-host.${dead}.0badc0de.stale`];
    for (const p of [...left, ...kept]) writeFileSync(p, record(dead));
    await acquireLock(lock, {}, timedOut);
    for (const p of left) expect(existsSync(p), p).toBe(false);
    for (const p of kept) expect(existsSync(p), p).toBe(true);
  });
});

const record = (pid: number) => JSON.stringify({ pid, host: hostname(), time: Date.now(), token: 'theirs' });

describe('removeOrphanedTemporaries', () => {
  it('removes an old temporary of a writer killed mid-write, and keeps a live writer\'s however old', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tc-tmp-'));
    const file = join(dir, 'db.json');
    const host = encodeURIComponent(hostname()).replace(/\./g, '%2E');
    const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    try {
      const dead = join(dir, `.db.json.${host}.${await deadPid()}.0badc0de.tmp`);
      const alive = join(dir, `.db.json.${host}.${live.pid!}.0badc0de.tmp`);
      for (const p of [dead, alive]) {
        writeFileSync(p, '{"partial');
        const t = (Date.now() - 10 * 60_000) / 1000;
        utimesSync(p, t, t);
      }
      await removeOrphanedTemporaries(file);
      expect(existsSync(dead)).toBe(false);
      expect(existsSync(alive)).toBe(true);
    } finally {
      live.kill();
    }
  });
});
