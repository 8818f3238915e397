import * as fs from 'node:fs/promises';
import * as nodePath from 'node:path';
import { type Sizes } from '../ir/bind.js';
import { type Program } from '../ir/tensor.js';
import type { DeviceInfo } from '../runtime/device.js';
import type { ScheduleSource, TunedSchedule } from '../runtime/executable.js';
import {
  type BucketFunction,
  type Contents,
  CorruptDatabaseError,
  type EntryFilter,
  InvalidStoredEntry,
  InvalidTuningEntryError,
  type LookupResult,
  type NewTuningEntry,
  type Parsed,
  type RemoveSelector,
  type StoredEntry,
  type TuningEntry,
  type TuningKey,
  TuningDatabaseError,
  emptyContents,
  entrySchema,
  isRecord,
  listEntries,
  lookupEntry,
  matches,
  normalizeEntry,
  parseDatabase,
  pow2Bucket,
  problemOf,
  reportInvalidEntry,
  serialize,
  tuningKey,
} from './entries.js';
import { type LockOptions, acquireLock, ensureDirectory, releaseLock, removeOrphanedTemporaries, writeAtomically } from './file-lock.js';
import { tunedScheduleFrom } from './lookup.js';

export * from './entries.js';

/**
 * The tuning database: one JSON file per user holding the winning schedule of every tuning run,
 * keyed by device, program, dtype, exact sizes and tilecraft version.
 *
 * ```json
 * { "format": "tilecraft-tuning", "version": 3, "entries": { "<key>": { ...TuningEntry } }, "stale": { ... } }
 * ```
 *
 * Version 2 keys programs by their canonical form (axis and size names replaced by positional
 * ones, see `canonical.ts`) and shapes by canonical size names. Version 3 keys each schedule's
 * knobs by group ids that say what the group computes (`contraction:C`, `rows:Y_max,Y_sum,Y`)
 * where version 2 and older used the group's position (`"0"`): replayed now, such a schedule
 * could land on another group. Entries of an older version are kept under `stale`, listed as
 * stale, and never returned by a lookup.
 *
 * Several tuners may write the same file at once (one per GPU, or two terminals).
 * Every change takes a lock file, re-reads the database under it, applies its change and replaces
 * the file atomically, so no writer loses another's entries and no reader ever sees half a file.
 * Readers do not lock and never write. A file that cannot be read as a database is reported by
 * readers and moved aside by the next writer, never wiped; an entry that is malformed is skipped
 * and reported, and kept in the file by writers; a file written by a newer tilecraft is neither
 * read nor overwritten.
 */

export type { LockOptions } from './file-lock.js';

export interface DatabaseOptions {
  /** Defaults to `pow2Bucket`. */
  readonly bucket?: BucketFunction | undefined;
  /**
   * Told when the database file cannot be read as a database; the operation then goes on with an
   * empty database. Reads (open, lookup, list) leave the file in place (`movedTo` is undefined);
   * writes (record, remove) move it aside first. Without it, the operation throws the
   * `CorruptDatabaseError` instead (a write has moved the file aside all the same, so a retry
   * starts fresh).
   */
  readonly onCorrupt?: ((problem: CorruptDatabaseError) => void) | undefined;
  /**
   * Told, once per database object and entry, of a malformed entry that is skipped (and kept in
   * the file). Defaults to a process warning (`TuningDatabaseWarning`).
   */
  readonly onInvalidEntry?: ((problem: InvalidStoredEntry) => void) | undefined;
  readonly lock?: LockOptions | undefined;
}

/** Another process held the database lock for longer than the time-out. */
export class DatabaseLockTimeoutError extends TuningDatabaseError {
  override name = 'DatabaseLockTimeoutError';
  constructor(
    path: string,
    readonly lockPath: string,
    readonly holder: string,
    readonly waitedMs: number,
  ) {
    super(
      `could not lock tuning database ${path} within ${waitedMs} ms: ${lockPath} is held by ${holder}. ` +
        `If no tilecraft tuner is running, delete ${lockPath} and try again.`,
      path,
    );
  }
}

/**
 * Where the tuning database lives unless the user says otherwise:
 * `$TILECRAFT_TUNING_DB` if set; on Windows `%LOCALAPPDATA%\tilecraft\tuning.json`
 * (`<home>\AppData\Local\...` without it); elsewhere `$XDG_CACHE_HOME/tilecraft/tuning.json`
 * (when absolute, as the XDG spec asks) or `~/.cache/tilecraft/tuning.json`.
 * The CLI passes `process.env`, `os.homedir()` and `process.platform`; nothing else reads them.
 */
export function defaultDatabasePath(env: Readonly<Record<string, string | undefined>>, home: string, platform: string): string {
  const set = (name: string) => {
    const v = env[name];
    return v !== undefined && v !== '' ? v : undefined;
  };
  const explicit = set('TILECRAFT_TUNING_DB');
  if (explicit !== undefined) return explicit;
  if (platform === 'win32') {
    return nodePath.win32.join(set('LOCALAPPDATA') ?? nodePath.win32.join(home, 'AppData', 'Local'), 'tilecraft', 'tuning.json');
  }
  const xdg = set('XDG_CACHE_HOME');
  const cache = xdg !== undefined && nodePath.posix.isAbsolute(xdg) ? xdg : nodePath.posix.join(home, '.cache');
  return nodePath.posix.join(cache, 'tilecraft', 'tuning.json');
}

/** The tuning database at one path. Holds no entries in memory: every call reads the file afresh. */
export class TuningDatabase implements ScheduleSource {
  private readonly bucketOf: BucketFunction;
  private readonly lockPath: string;
  /** Problems already reported by this object, so repeated lookups do not repeat them. */
  private readonly reported = new Set<string>();

  private constructor(
    /** Absolute path of the database file. */
    readonly path: string,
    private readonly options: DatabaseOptions,
  ) {
    this.bucketOf = options.bucket ?? pow2Bucket;
    this.lockPath = `${path}.lock`;
  }

  /**
   * Opens the database at `path` and reads it once, so a newer-version file fails here, before
   * any tuning, and a corrupt one is reported now. Creates nothing: the first write creates the
   * directory and the file.
   */
  static async open(path: string, options: DatabaseOptions = {}): Promise<TuningDatabase> {
    const db = new TuningDatabase(nodePath.resolve(path), options);
    await db.load();
    return db;
  }

  /**
   * The entry for exactly this key; with `allowBucket`, failing that, the entry for the same
   * device, program, dtype and version whose sizes fall in the same bucket and lie nearest.
   */
  async lookup(key: TuningKey, options: { readonly allowBucket?: boolean | undefined } = {}): Promise<LookupResult | undefined> {
    const wantedKey = tuningKey(key);
    const { entries } = await this.load();
    return lookupEntry(entries, key, this.bucketOf, options, wantedKey);
  }

  /** What `Executable.create(..., { tuning: db })` asks: this device's schedule for the program and sizes. */
  tunedSchedule(info: DeviceInfo, program: Program, sizes: Sizes): Promise<TunedSchedule | undefined> {
    return tunedScheduleFrom(this, info, program, sizes);
  }

  /** Adds entries, replacing any with the same key. Entries are checked before anything is written. */
  async record(...entries: readonly NewTuningEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const recordedAt = new Date().toISOString();
    const prepared = entries.map((e) => normalizeEntry(e, recordedAt));
    for (const e of prepared) {
      const problem = problemOf(entrySchema, e);
      if (problem !== undefined) throw new InvalidTuningEntryError(`cannot record tuning entry for ${e.program}: ${problem}`);
    }
    const keyed = prepared.map((e) => [tuningKey(e), e] as const);
    await this.update(({ entries: current }) => {
      for (const [k, e] of keyed) current.set(k, e);
      return true;
    });
  }

  /** Entries matching `filter`, sorted by program name, then key; stale ones (marked) after the current ones. */
  async list(filter: EntryFilter = {}): Promise<StoredEntry[]> {
    return listEntries(await this.load(), filter);
  }

  /** Removes the entries matching every field of `which` (at least one must be given); returns how many. */
  async remove(which: RemoveSelector): Promise<number> {
    const given = Object.values(which).some((v) => v !== undefined);
    if (!given) throw new InvalidTuningEntryError('remove needs at least one of keys, program, programHash, fingerprint, dtype, tilecraftVersion');
    const keys = which.keys && new Set(which.keys);
    let removed = 0;
    await this.update((current) => {
      for (const map of [current.entries, current.stale]) {
        for (const [k, e] of [...map]) {
          if ((keys === undefined || keys.has(k)) && matches(e, which)) {
            map.delete(k);
            removed++;
          }
        }
      }
      return removed > 0;
    });
    return removed;
  }

  /**
   * Reads the file without locking (atomic replacement means it is always a whole version) and
   * without writing anything: a corrupt file is reported and read as empty, left for a writer.
   */
  private async load(): Promise<Contents> {
    const read = await this.read();
    if (read.kind === 'ok') return this.reportInvalid(read.contents);
    const problem = new CorruptDatabaseError(this.path, undefined, read.reason);
    if (!this.options.onCorrupt) throw problem;
    if (this.firstTime(`corrupt:${read.reason}`)) this.options.onCorrupt(problem);
    return emptyContents();
  }

  /** Reads under the lock, moving a corrupt file aside. */
  private async loadLocked(): Promise<Contents> {
    const read = await this.read();
    if (read.kind === 'ok') return this.reportInvalid(read.contents);
    const movedTo = await this.moveAside();
    const problem = new CorruptDatabaseError(this.path, movedTo, read.reason);
    if (!this.options.onCorrupt) throw problem;
    this.options.onCorrupt(problem);
    return emptyContents();
  }

  /**
   * Lets `change` edit the current and stale entries in place under the lock (returning whether it
   * did), then writes the file atomically: what `autotune db merge`, `prune` and `export` write
   * through. Malformed entries in the file are written back as they were, unless `replace` says
   * the edited entries are the whole new database.
   */
  edit(change: (entries: Map<string, TuningEntry>, stale: Map<string, TuningEntry>) => boolean, options: { readonly replace?: boolean } = {}): Promise<void> {
    return this.update((contents) => change(contents.entries, contents.stale), options.replace === true);
  }

  /** Under the lock: re-read, let `change` edit the entries (returning whether it did), write atomically. */
  private async update(change: (contents: Contents) => boolean, replace = false): Promise<void> {
    await ensureDirectory(nodePath.dirname(this.path));
    await this.withLock(async () => {
      // Holding the lock, no writer of ours is mid-write: what is old and ownerless was left by a crash.
      await removeOrphanedTemporaries(this.path);
      const contents = await this.loadLocked();
      if (change(contents)) await writeAtomically(this.path, serialize(replace ? { ...contents, invalid: [] } : contents));
    });
  }

  private reportInvalid(contents: Contents): Contents {
    for (const bad of contents.invalid) {
      if (!this.firstTime(`invalid:${bad.section}:${bad.key}:${bad.reason}`)) continue;
      reportInvalidEntry(new InvalidStoredEntry(this.path, bad.section, bad.key, bad.reason), this.options.onInvalidEntry);
    }
    return contents;
  }

  private firstTime(problem: string): boolean {
    if (this.reported.has(problem)) return false;
    this.reported.add(problem);
    return true;
  }

  private async read(): Promise<Parsed> {
    let text: string;
    try {
      text = await fs.readFile(this.path, 'utf8');
    } catch (e) {
      // ENOTDIR: a path under a file; either way there is no database yet
      if (errorCode(e) === 'ENOENT' || errorCode(e) === 'ENOTDIR') return { kind: 'ok', contents: emptyContents() };
      throw e;
    }
    // Some editors save UTF-8 with a byte order mark, which JSON.parse rejects.
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    return parseDatabase(text, this.path);
  }

  private async moveAside(): Promise<string> {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    for (let n = 0; ; n++) {
      const target = `${this.path}.corrupt-${stamp}${n === 0 ? '' : `-${n}`}`;
      // we hold the lock, so nothing else creates corrupt-* files between this check and the rename
      if (await exists(target)) continue;
      await fs.rename(this.path, target);
      return target;
    }
  }

  private async withLock<T>(body: () => Promise<T>): Promise<T> {
    const lock = await acquireLock(this.lockPath, this.options.lock ?? {}, (holder, waited) => new DatabaseLockTimeoutError(this.path, this.lockPath, holder, waited));
    try {
      return await body();
    } finally {
      await releaseLock(this.lockPath, lock);
    }
  }
}

function errorCode(e: unknown): string | undefined {
  return isRecord(e) && typeof e.code === 'string' ? e.code : undefined;
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

