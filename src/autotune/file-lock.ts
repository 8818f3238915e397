import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import * as nodePath from 'node:path';

/**
 * Files several processes change at once: an exclusive lock file (with stale locks broken) and
 * atomic replacement (write beside, flush, rename over).
 */

export interface LockOptions {
  /** A lock older than this is taken to be left by a crashed or hung process and is broken. */
  readonly staleMs?: number | undefined;
  /** Give up waiting for the lock after this long. */
  readonly timeoutMs?: number | undefined;
}

// Holding the lock takes milliseconds (read, merge, write); 30 s can only mean its holder is gone.
const DEFAULT_STALE_MS = 30_000;
// Longer than DEFAULT_STALE_MS, so a waiter outlives a stale lock and breaks it rather than failing.
const DEFAULT_LOCK_TIMEOUT_MS = 60_000;

// ---------------------------------------------------------------------------------------------
// Directories

/**
 * Creates `dir` and its missing parents, one level at a time from the nearest existing ancestor.
 * Not `mkdir(dir, { recursive: true })`: where the kernel answers ENOENT for a directory that
 * cannot hold others (under /proc), Node's recursive mkdir retries forever.
 */
export async function ensureDirectory(dir: string): Promise<void> {
  const missing: string[] = [];
  let at = nodePath.resolve(dir);
  for (;;) {
    const st = await fs.stat(at).catch((e: unknown) => (errorCode(e) === 'ENOENT' ? undefined : Promise.reject(e)));
    if (st) {
      if (!st.isDirectory()) throw Object.assign(new Error(`${at} is not a directory`), { code: 'ENOTDIR', path: at });
      break;
    }
    missing.push(at);
    const parent = nodePath.dirname(at);
    if (parent === at) break;
    at = parent;
  }
  for (const d of missing.reverse()) {
    await fs.mkdir(d).catch((e: unknown) => (errorCode(e) === 'EEXIST' ? undefined : Promise.reject(e)));
  }
}

// ---------------------------------------------------------------------------------------------
// Atomic replacement

/** Writes a temp file beside `file`, flushes it to disk and renames it over `file`. */
export async function writeAtomically(file: string, text: string): Promise<void> {
  const dir = nodePath.dirname(file);
  // Same directory, so the rename stays on one filesystem and is atomic.
  // Named for its writer (host and pid), so one killed mid-write can be told from one at work.
  const temp = nodePath.join(dir, `.${nodePath.basename(file)}.${encodeHost(hostname())}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`);
  try {
    const handle = await fs.open(temp, 'wx');
    try {
      await handle.writeFile(text, 'utf8');
      // Without this a crash after the rename can leave an empty file where the database was.
      await handle.sync();
    } finally {
      await handle.close();
    }
    await renameReplacing(temp, file);
  } catch (e) {
    await fs.rm(temp, { force: true });
    throw e;
  }
  await syncDirectory(dir);
}

// Dots would make the name ambiguous to parse back.
const encodeHost = (host: string) => encodeURIComponent(host).replace(/\./g, '%2E');

// Writing a temporary takes milliseconds; one this old, whose writer is gone, was left by a crash.
const ORPHANED_TEMP_MS = 5 * 60_000;
// A writer on another machine (a shared disk) cannot be asked whether it lives: wait far longer.
const ORPHANED_FOREIGN_TEMP_MS = 24 * 3600_000;

/**
 * Removes the temporaries `writeAtomically` left beside `file` when its writer was killed
 * mid-write: those older than a few minutes whose writer (a pid on this host) is no longer alive,
 * and those from another host older than a day. Best effort; call it holding the file's lock.
 */
export async function removeOrphanedTemporaries(file: string): Promise<void> {
  const dir = nodePath.dirname(file);
  const prefix = `.${nodePath.basename(file)}.`;
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return;
  }
  const here = hostname();
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    // `<host>.<pid>.<random>.tmp`, or `<pid>.<random>.tmp` as older versions named them
    const m = /^(?:([^.]+)\.)?(\d+)\.[0-9a-f]{8}\.tmp$/.exec(name.slice(prefix.length));
    if (!m) continue;
    let host: string | undefined;
    try {
      host = m[1] === undefined ? undefined : decodeURIComponent(m[1]);
    } catch {
      continue;
    }
    const temp = nodePath.join(dir, name);
    try {
      const age = Date.now() - (await fs.stat(temp)).mtimeMs;
      const local = host === undefined || host === here;
      const orphaned = local ? age > ORPHANED_TEMP_MS && !processAlive(Number(m[2])) : age > ORPHANED_FOREIGN_TEMP_MS;
      if (orphaned) await fs.rm(temp, { force: true });
    } catch {
      // gone meanwhile, or not ours to remove: leave it
    }
  }
}

async function renameReplacing(from: string, to: string): Promise<void> {
  // Windows refuses to replace a file another process has open for a moment (a reader); retry briefly.
  for (let attempt = 0; ; attempt++) {
    try {
      await fs.rename(from, to);
      return;
    } catch (e) {
      const code = errorCode(e);
      if (attempt >= 10 || (code !== 'EPERM' && code !== 'EACCES' && code !== 'EBUSY')) throw e;
      await sleep(10 * (attempt + 1));
    }
  }
}

/** Makes the rename itself durable; some platforms (Windows) cannot open a directory, which is fine. */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await fs.open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // best effort: the data itself was already flushed
  }
}

// ---------------------------------------------------------------------------------------------
// The lock file

interface LockContent {
  readonly pid: number;
  readonly host: string;
  /** Milliseconds since the epoch when the lock was taken. */
  readonly time: number;
  readonly token: string;
}

interface Holder {
  /** The lock file's text, compared before breaking so a fresh lock is never mistaken for the stale one. */
  readonly raw: string;
  readonly content?: LockContent;
  readonly time: number;
}

/** Creates the lock file exclusively, waiting with jittered backoff and breaking stale locks. */
export async function acquireLock(lockPath: string, options: LockOptions, timedOut: (holder: string, waitedMs: number) => Error): Promise<string> {
  const staleMs = options.staleMs ?? DEFAULT_STALE_MS;
  const timeoutMs = options.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  const token = randomUUID();
  const started = Date.now();
  let delay = 2;
  for (;;) {
    if (await tryCreateLock(lockPath, token)) return token;
    const holder = await readLock(lockPath);
    if (holder === undefined) continue; // released between our attempt and the read
    if (isStale(holder, staleMs)) {
      await breakLock(lockPath, holder);
      continue;
    }
    const waited = Date.now() - started;
    if (waited >= timeoutMs) throw timedOut(describeHolder(holder), waited);
    // jitter keeps a crowd of waiters from retrying in lockstep
    await sleep(Math.min(delay, timeoutMs - waited) * (0.5 + Math.random()));
    delay = Math.min(delay * 2, 200);
  }
}

/**
 * Creates the lock with its content already in it: the record is written to a file of our own,
 * then hard-linked to the lock's name (atomic, and refused if the lock exists). A writer killed
 * between creating a lock and writing its record would otherwise leave an empty lock whose owner
 * nobody can identify. Where the file system has no hard links, the lock is created empty and
 * written at once.
 */
async function tryCreateLock(lockPath: string, token: string): Promise<boolean> {
  const content: LockContent = { pid: process.pid, host: hostname(), time: Date.now(), token };
  const mine = `${lockPath}.${hostname()}.${process.pid}.${token.slice(0, 8)}.new`;
  await fs.writeFile(mine, JSON.stringify(content), { encoding: 'utf8', flag: 'wx' });
  try {
    await fs.link(mine, lockPath);
    await removeDeadLockRecords(lockPath);
    return true;
  } catch (e) {
    if (errorCode(e) === 'EEXIST') return false;
    if (errorCode(e) !== 'EPERM' && errorCode(e) !== 'ENOTSUP' && errorCode(e) !== 'ENOSYS') throw e;
    return createInPlace(lockPath, content);
  } finally {
    await fs.rm(mine, { force: true });
  }
}

/**
 * Removes the lock records of writers on this host that died between writing their record and
 * linking it into place, and the stale locks they were breaking (their process is gone; those of
 * another host are left alone).
 */
async function removeDeadLockRecords(lockPath: string): Promise<void> {
  const base = `${nodePath.basename(lockPath)}.${hostname()}.`;
  const names = await fs.readdir(nodePath.dirname(lockPath)).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(base) || !/\.(?:new|stale)$/.test(name)) continue;
    const pid = Number(name.slice(base.length).split('.')[0]);
    if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && !processAlive(pid)) {
      await fs.rm(nodePath.join(nodePath.dirname(lockPath), name), { force: true });
    }
  }
}

async function createInPlace(lockPath: string, content: LockContent): Promise<boolean> {
  let handle: FileHandle;
  try {
    handle = await fs.open(lockPath, 'wx');
  } catch (e) {
    if (errorCode(e) === 'EEXIST') return false;
    throw e;
  }
  try {
    await handle.writeFile(JSON.stringify(content), 'utf8');
    await handle.close();
  } catch (e) {
    await handle.close().catch(() => undefined);
    await fs.rm(lockPath, { force: true });
    throw e;
  }
  return true;
}

async function readLock(lockPath: string): Promise<Holder | undefined> {
  try {
    const raw = await fs.readFile(lockPath, 'utf8');
    const content = parseLock(raw);
    const stat = await fs.stat(lockPath);
    // A record stamped in the future (another machine's clock) would never age: the file's time stands in.
    if (content) return { raw, content, time: content.time > Date.now() + CLOCK_SKEW_MS ? Math.min(content.time, stat.mtimeMs) : content.time };
    // Empty or partial: its creator is between creating and writing it. Age it by the file's time.
    return { raw, time: stat.mtimeMs };
  } catch (e) {
    if (errorCode(e) === 'ENOENT') return undefined;
    throw e;
  }
}

/** How far a lock's time may run ahead of this machine's clock before it is not believed. */
const CLOCK_SKEW_MS = 60_000;

function parseLock(raw: string): LockContent | undefined {
  try {
    const v: unknown = JSON.parse(raw);
    if (isRecord(v) && Number.isSafeInteger(v.pid) && (v.pid as number) > 0 && typeof v.host === 'string' && typeof v.time === 'number' && typeof v.token === 'string') {
      return v as unknown as LockContent;
    }
  } catch {
    // not (yet) a whole lock record
  }
  return undefined;
}

/**
 * How long an empty or partial lock may stand before it is taken as abandoned: writing a lock's
 * record takes microseconds, and tilecraft's own locks are never empty (see tryCreateLock).
 */
const EMPTY_LOCK_STALE_MS = 2000;

function isStale(holder: Holder, staleMs: number): boolean {
  if (Date.now() - holder.time > staleMs) return true;
  if (holder.content === undefined && Date.now() - holder.time > Math.min(staleMs, EMPTY_LOCK_STALE_MS)) return true;
  // A pid only means something on the machine that wrote it (the file may be on a shared disk).
  const c = holder.content;
  return c !== undefined && c.host === hostname() && !processAlive(c.pid);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else
    return errorCode(e) === 'EPERM';
  }
}

/**
 * Breaks a stale lock by renaming it to a unique name first and checking it is the lock judged
 * stale. Unlinking by name would race: another waiter may already have broken it and taken a
 * fresh lock, which we would then delete. If we did grab a fresh lock, it is put back.
 */
async function breakLock(lockPath: string, seen: Holder): Promise<void> {
  // named for its breaker, as lock records are, so one killed mid-break leaves nothing for good
  const aside = `${lockPath}.${hostname()}.${process.pid}.${randomUUID().slice(0, 8)}.stale`;
  try {
    await fs.rename(lockPath, aside);
  } catch (e) {
    if (errorCode(e) === 'ENOENT') return; // someone else broke or released it
    throw e;
  }
  try {
    const raw = await fs.readFile(aside, 'utf8');
    if (raw !== seen.raw) {
      try {
        await fs.link(aside, lockPath);
      } catch (e) {
        // EEXIST: yet another process took the lock meanwhile; the holder we moved will find its
        // lock gone on release and leave the new one alone
        if (errorCode(e) !== 'EEXIST') throw e;
      }
    }
  } finally {
    await fs.rm(aside, { force: true });
  }
}

/** Removes the lock only if it is still ours (a waiter may have judged us stale and broken it). */
export async function releaseLock(lockPath: string, token: string): Promise<void> {
  const holder = await readLock(lockPath);
  if (holder?.content?.token === token) await fs.rm(lockPath, { force: true });
}

function describeHolder(h: Holder): string {
  const since = new Date(h.time).toISOString();
  const c = h.content;
  if (!c) return `an unknown process since ${since}`;
  const elsewhere = c.host === hostname() ? '' : ' (another machine, so whether it still runs cannot be checked from here)';
  const ahead = c.time > Date.now() + CLOCK_SKEW_MS ? `; its record is stamped ${new Date(c.time).toISOString()}, in the future: the two machines' clocks disagree` : '';
  return `pid ${c.pid} on ${c.host}${elsewhere} since ${since}${ahead}`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function errorCode(e: unknown): string | undefined {
  return isRecord(e) && typeof e.code === 'string' ? e.code : undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
