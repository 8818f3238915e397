import { z } from 'zod';
import { type DType, isDType } from '../ir/dtype.js';
import { TilecraftError } from '../ir/errors.js';
import { type Sizes } from '../ir/bind.js';
import { type Program } from '../ir/tensor.js';
import type { ResolvedSchedule } from '../passes/schedule.js';
import type { DeviceInfo } from '../runtime/device.js';
import type { ScheduleSource, TunedSchedule } from '../runtime/executable.js';
import { type TuningSource, tunedScheduleFrom } from './lookup.js';

/**
 * The tuning database's entries, without files: the entry format and its check, keys, bucket
 * lookup, the file format's parsing and writing, and a database held in memory. Nothing here
 * touches the file system, so a browser can look up a database it fetched (`tuningSourceFromJson`);
 * `db.ts` adds the file, its lock and its atomic writes.
 */

export const DATABASE_FORMAT = 'tilecraft-tuning';
export const DATABASE_VERSION = 3;
/** Runners-up kept per entry: enough to see how close the race was without bloating the file. */
export const MAX_RUNNERS_UP = 5;

/** Exact sizes by size name, e.g. `{ B: 1, N: 4096 }` (in a key, canonical names: `{ "%s0": 1, "%s1": 4096 }`). */
export type Shape = Readonly<Record<string, number>>;

/** What identifies a tuning result; `tuningKey` turns it into the entry's string key. */
export interface TuningKey {
  /** `deviceFingerprint(device.info)`. */
  readonly fingerprint: string;
  /** Structural hash of the canonical form of the program that was tuned (`tuningKeyFor`). */
  readonly programHash: string;
  readonly dtype: DType;
  readonly shape: Shape;
  /** The tilecraft version that generated the kernels: another version may generate others. */
  readonly tilecraftVersion: string;
}

export interface RunnerUp {
  readonly schedule: ResolvedSchedule;
  readonly medianMs: number;
}

export interface TuningEntry extends TuningKey {
  /** `deviceSummary(device.info)`, for people reading `autotune show`. */
  readonly deviceSummary?: string;
  /** The program's name (an example name or the user's), for people and for filtering. */
  readonly program: string;
  /** The sizes under the program's own names, for people (the key's `shape` uses canonical names). */
  readonly sizes?: Shape;
  /**
   * The sizes this result stands for when a lookup falls back to a bucket. Left out, the bucket
   * is the database's bucket function of `shape`.
   */
  readonly bucket?: Shape;
  readonly schedule: ResolvedSchedule;
  readonly medianMs: number;
  /** Relative ± spread of the winner's samples (half the interquartile range over the median). */
  readonly spread: number;
  /**
   * Which measurement `medianMs` and `spread` come from: `final` when the winner was measured
   * again (warm-up, more repeats), `screen` when only its first, cheap measurement stands (an
   * interrupted run, a budget that ran out). Left out by older versions: not known.
   */
  readonly measuredBy?: 'screen' | 'final';
  /** Candidates measured (those that compiled and matched the reference). */
  readonly candidates: number;
  /** The search strategy, e.g. `exhaustive` or `random(64, seed=1)`. */
  readonly strategy: string;
  /** How the winner was picked among candidates inside the tolerance band, e.g. `smallest-canonical-schedule`. */
  readonly tieBreak: string;
  /** Relative band around the fastest median within which candidates counted as tied (0.02 = 2%). */
  readonly toleranceBand: number;
  /** ISO 8601 time the result was recorded. */
  readonly recordedAt: string;
  /** The best few other candidates, fastest first. */
  readonly runnersUp: readonly RunnerUp[];
}

/** What `record` takes: an entry whose time is filled in when left out. */
export type NewTuningEntry = Omit<TuningEntry, 'recordedAt'> & { readonly recordedAt?: string };

/** Maps exact sizes to the sizes of the bucket they fall in. */
export type BucketFunction = (shape: Shape) => Shape;

export type LookupResult =
  | { readonly match: 'exact'; readonly key: string; readonly entry: TuningEntry }
  /** No exact entry; this one was tuned for other sizes in the same bucket. */
  | { readonly match: 'bucket'; readonly key: string; readonly entry: TuningEntry; readonly bucket: Shape };

/** Entries are listed (and removed) when they match every field given. */
export interface EntryFilter {
  readonly program?: string | undefined;
  readonly programHash?: string | undefined;
  readonly fingerprint?: string | undefined;
  readonly dtype?: DType | undefined;
  readonly tilecraftVersion?: string | undefined;
}

export interface RemoveSelector extends EntryFilter {
  /** Remove only these keys (and only those that also match the other fields given). */
  readonly keys?: readonly string[] | undefined;
}

export interface StoredEntry {
  readonly key: string;
  readonly entry: TuningEntry;
  /** Recorded by an older database format, keyed differently: listed, never looked up. */
  readonly stale?: true;
}

/** A database's entries: current ones, stale ones kept from an older format, and malformed ones. */
export interface Contents {
  readonly entries: Map<string, TuningEntry>;
  readonly stale: Map<string, TuningEntry>;
  /** Entries that failed the check, by section and stored key: never used, written back as they were. */
  readonly invalid: readonly InvalidEntry[];
}

/** A stored entry that is not a well-formed entry: skipped by lookups and listings, kept in the file. */
export interface InvalidEntry {
  readonly section: 'entries' | 'stale';
  readonly key: string;
  readonly reason: string;
  readonly value: unknown;
}


export class TuningDatabaseError extends TilecraftError {
  override name = 'TuningDatabaseError';
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
  }
}

/**
 * The database file could not be read as a database. A write renamed it to `movedTo`; a read left
 * it in place (`movedTo` undefined).
 */
export class CorruptDatabaseError extends TuningDatabaseError {
  override name = 'CorruptDatabaseError';
  constructor(
    path: string,
    readonly movedTo: string | undefined,
    readonly reason: string,
  ) {
    super(
      movedTo !== undefined
        ? `tuning database ${path} was corrupt (${reason}); moved it to ${movedTo}. ` +
            'New tuning results go to a fresh file; the old one is kept for you to inspect or delete.'
        : `tuning database ${path} is corrupt (${reason}); left in place, no tuned schedule is read from it. ` +
            'The next tuning run moves it aside and starts a fresh file; or inspect, move or delete it yourself.',
      path,
    );
  }
}

/** One malformed entry in the database file, skipped; the rest of the file is used. */
export class InvalidStoredEntry extends TuningDatabaseError {
  override name = 'InvalidStoredEntry';
  constructor(
    path: string,
    readonly section: 'entries' | 'stale',
    readonly key: string,
    readonly reason: string,
  ) {
    super(`tuning database ${path}: skipped ${section === 'stale' ? 'stale ' : ''}entry ${key} (${reason}); it is kept in the file`, path);
  }
}

/** The database was written by a newer tilecraft, in a format this one cannot read. */
export class NewerDatabaseVersionError extends TuningDatabaseError {
  override name = 'NewerDatabaseVersionError';
  constructor(
    path: string,
    readonly version: number,
  ) {
    super(
      `tuning database ${path} has format version ${version}, written by a newer tilecraft; this tilecraft ` +
        `understands version ${DATABASE_VERSION} and will neither read nor overwrite it. Upgrade tilecraft, ` +
        'or use another database file (set TILECRAFT_TUNING_DB).',
      path,
    );
  }
}

/** An entry or key handed to the database is malformed. */
export class InvalidTuningEntryError extends TilecraftError {
  override name = 'InvalidTuningEntryError';
}

/** Each size rounded up to the next power of two: 1000 and 600 share the bucket 1024. */
export function pow2Bucket(shape: Shape): Shape {
  const out: Record<string, number> = {};
  for (const [axis, size] of Object.entries(shape)) {
    let p = 1;
    while (p < size) p *= 2;
    out[axis] = size === 0 ? 0 : p;
  }
  return out;
}

// Components are URI-encoded so no name or version can forge a separator; hex hashes, dtypes,
// axis names and versions read unchanged.
const enc = encodeURIComponent;

/** `B=1,N=4096`: sizes sorted by axis name (code-unit order, the same in every locale). */
export function shapeKey(shape: Shape): string {
  return Object.keys(shape)
    .sort()
    .map((axis) => `${enc(axis)}=${String(shape[axis])}`)
    .join(',');
}

/** The entry key: `fingerprint|programHash|dtype|B=1,N=4096|tilecraftVersion`. Throws on a malformed key. */
export function tuningKey(key: TuningKey): string {
  const problem = problemOf(keySchema, key);
  if (problem !== undefined) throw new InvalidTuningEntryError(`invalid tuning key: ${problem}`);
  return [enc(key.fingerprint), enc(key.programHash), key.dtype, shapeKey(key.shape), enc(key.tilecraftVersion)].join('|');
}

/**
 * The entry for exactly this key in `entries`; with `allowBucket`, failing that, the entry for the
 * same device, program, dtype and version whose sizes fall in the same bucket and lie nearest.
 */
export function lookupEntry(
  entries: ReadonlyMap<string, TuningEntry>,
  key: TuningKey,
  bucketOf: BucketFunction,
  options: { readonly allowBucket?: boolean | undefined },
  wantedKey: string = tuningKey(key),
): LookupResult | undefined {
  const exact = entries.get(wantedKey);
  if (exact) return { match: 'exact', key: wantedKey, entry: exact };
  if (options.allowBucket !== true) return undefined;

  const bucket = bucketOf(key.shape);
  const wantedBucket = shapeKey(bucket);
  let best: { key: string; entry: TuningEntry; distance: number } | undefined;
  for (const [k, e] of entries) {
    if (e.fingerprint !== key.fingerprint || e.programHash !== key.programHash) continue;
    if (e.dtype !== key.dtype || e.tilecraftVersion !== key.tilecraftVersion) continue;
    if (shapeKey(e.bucket ?? bucketOf(e.shape)) !== wantedBucket) continue;
    const distance = shapeDistance(e.shape, key.shape);
    // ties go to the smaller key, so every run picks the same entry
    if (!best || distance < best.distance || (distance === best.distance && k < best.key)) best = { key: k, entry: e, distance };
  }
  return best && { match: 'bucket', key: best.key, entry: best.entry, bucket };
}

/** Entries matching `filter`, sorted by program name, then key; stale ones (marked) after the current ones. */
export function listEntries({ entries, stale }: Contents, filter: EntryFilter): StoredEntry[] {
  const sorted = (m: ReadonlyMap<string, TuningEntry>) =>
    [...m]
      .filter(([, e]) => matches(e, filter))
      .map(([key, entry]) => ({ key, entry }))
      .sort((a, b) => compare(a.entry.program, b.entry.program) || compare(a.key, b.key));
  return [...sorted(entries), ...sorted(stale).map((e) => ({ ...e, stale: true as const }))];
}

/** Tells `handler` of a skipped entry; without one, a process warning in Node, a console warning elsewhere. */
export function reportInvalidEntry(problem: InvalidStoredEntry, handler: ((problem: InvalidStoredEntry) => void) | undefined): void {
  // Node's process, where there is one (this module also loads in browsers)
  const node = (globalThis as { process?: { emitWarning?: (message: string, type: string) => void } }).process;
  if (handler) handler(problem);
  else if (typeof node?.emitWarning === 'function') node.emitWarning(problem.message, 'TuningDatabaseWarning');
  else console.warn(problem.message);
}

// ---------------------------------------------------------------------------------------------
// A database in memory, and a shipped one

export interface MemoryDatabaseOptions {
  /** Defaults to `pow2Bucket`. */
  readonly bucket?: BucketFunction | undefined;
  /**
   * Told of each malformed entry, which is skipped; the rest are used. Defaults to a process
   * warning (`TuningDatabaseWarning`) in Node, a console warning elsewhere.
   */
  readonly onInvalidEntry?: ((problem: InvalidStoredEntry) => void) | undefined;
}

/**
 * A tuning database held in memory, read-only: looked up like the file database (exact, else the
 * nearest entry in the same bucket), never written. What `tuningSourceFromJson` returns.
 */
export class MemoryTuningDatabase implements TuningSource, ScheduleSource {
  private readonly bucketOf: BucketFunction;

  constructor(
    /** Names the database in messages: a file name or URL. */
    readonly name: string,
    private readonly contents: Contents,
    options: MemoryDatabaseOptions = {},
  ) {
    this.bucketOf = options.bucket ?? pow2Bucket;
  }

  /** See `TuningDatabase.lookup`. */
  async lookup(key: TuningKey, options: { readonly allowBucket?: boolean | undefined } = {}): Promise<LookupResult | undefined> {
    return lookupEntry(this.contents.entries, key, this.bucketOf, options);
  }

  /** What `Executable.create(..., { tuning })` asks: this device's schedule for the program and sizes. */
  tunedSchedule(info: DeviceInfo, program: Program, sizes: Sizes): Promise<TunedSchedule | undefined> {
    return tunedScheduleFrom(this, info, program, sizes);
  }

  /** See `TuningDatabase.list`. */
  list(filter: EntryFilter = {}): StoredEntry[] {
    return listEntries(this.contents, filter);
  }

  /** The malformed entries that were skipped. */
  get invalid(): readonly InvalidEntry[] {
    return this.contents.invalid;
  }
}

/** A shipped tuning database cannot be used at all: not a database, or written by a newer tilecraft. */
export class ShippedDatabaseError extends TuningDatabaseError {
  override name = 'ShippedDatabaseError';
  constructor(
    name: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`shipped tuning database ${name} cannot be used (${reason}); no tuned schedule is read from it`, name);
    if (options) this.cause = options.cause;
  }
}

/**
 * A read-only tuning source over a database file's contents (what `autotune tune` and
 * `autotune db export` write), as text or parsed JSON: for tuning results shipped with a package,
 * fetched by the caller. A file that is not a database throws `ShippedDatabaseError` naming it;
 * malformed entries are skipped and reported (`onInvalidEntry`), and lookups never throw for them.
 * Entries of an older format are kept as stale and never used.
 */
export function tuningSourceFromJson(json: unknown, options: MemoryDatabaseOptions & { readonly name: string }): MemoryTuningDatabase {
  const { name } = options;
  let parsed: Parsed;
  try {
    parsed = typeof json === 'string' ? parseDatabase(json.charCodeAt(0) === 0xfeff ? json.slice(1) : json, name) : readDatabase(json, name);
  } catch (e) {
    if (!(e instanceof NewerDatabaseVersionError)) throw e;
    throw new ShippedDatabaseError(name, `format version ${e.version}, written by a newer tilecraft; this one reads version ${DATABASE_VERSION}`, { cause: e });
  }
  if (parsed.kind === 'corrupt') throw new ShippedDatabaseError(name, parsed.reason);
  for (const bad of parsed.contents.invalid) reportInvalidEntry(new InvalidStoredEntry(name, bad.section, bad.key, bad.reason), options.onInvalidEntry);
  return new MemoryTuningDatabase(name, parsed.contents, options);
}

// ---------------------------------------------------------------------------------------------
// Reading and checking

export type Parsed = { kind: 'ok'; contents: Contents } | { kind: 'corrupt'; reason: string };

export const emptyContents = (): Contents => ({ entries: new Map(), stale: new Map(), invalid: [] });

export function parseDatabase(text: string, path: string): Parsed {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { kind: 'corrupt', reason: `not valid JSON: ${(e as Error).message}` };
  }
  return readDatabase(raw, path);
}

/** A database file's contents, parsed from JSON already; throws `NewerDatabaseVersionError`. */
export function readDatabase(raw: unknown, path: string): Parsed {
  const corrupt = (reason: string) => ({ kind: 'corrupt', reason }) as const;
  if (!isRecord(raw)) return corrupt('the top level is not a JSON object');
  if (raw.format !== DATABASE_FORMAT) return corrupt(`format is ${JSON.stringify(raw.format) ?? 'missing'}, expected "${DATABASE_FORMAT}"`);
  const version = raw.version;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) {
    return corrupt(`version is ${JSON.stringify(version) ?? 'missing'}, expected a positive integer`);
  }
  // Checked before the entries: a newer format may shape them differently.
  if (version > DATABASE_VERSION) throw new NewerDatabaseVersionError(path, version);
  if (!isRecord(raw.entries)) return corrupt('"entries" is not an object');
  if (raw.stale !== undefined && !isRecord(raw.stale)) return corrupt('"stale" is not an object');

  // An older format keyed its entries differently: they can never be looked up safely.
  const older = version < DATABASE_VERSION;
  const invalid: InvalidEntry[] = [];
  const entries = readEntries(raw.entries, older ? 'stale' : 'entries', invalid);
  const stale = readEntries(raw.stale ?? {}, 'stale', invalid);
  if (older) return { kind: 'ok', contents: { entries: new Map(), stale: new Map([...stale, ...entries]), invalid } };
  return { kind: 'ok', contents: { entries, stale, invalid } };
}

/** Checked entries by key; malformed ones go to `invalid`, to be kept but never used. */
function readEntries(raw: Record<string, unknown>, section: InvalidEntry['section'], invalid: InvalidEntry[]): Map<string, TuningEntry> {
  const out = new Map<string, TuningEntry>();
  for (const [storedKey, value] of Object.entries(raw)) {
    const problem = problemOf(entrySchema, value);
    if (problem !== undefined) {
      invalid.push({ section, key: storedKey, reason: problem, value });
      continue;
    }
    // The fields are the truth; a hand-edited key is corrected on the next write.
    // Fields this version does not know are kept, so an older tilecraft does not strip them.
    out.set(tuningKey(value as TuningEntry), value as TuningEntry);
  }
  return out;
}

export function serialize({ entries, stale, invalid }: Contents): string {
  // Malformed entries are written back as they were (a checked entry under the same key replaces one).
  const sorted = (m: ReadonlyMap<string, unknown>, section: InvalidEntry['section']) => {
    const all = new Map<string, unknown>(invalid.filter((b) => b.section === section).map((b) => [b.key, b.value]));
    for (const [k, e] of m) all.set(k, e);
    return Object.fromEntries([...all].sort(([a], [b]) => compare(a, b)));
  };
  const staleOut = sorted(stale, 'stale');
  const file = { format: DATABASE_FORMAT, version: DATABASE_VERSION, entries: sorted(entries, 'entries'), ...(Object.keys(staleOut).length > 0 && { stale: staleOut }) };
  return `${JSON.stringify(file, null, 2)}\n`;
}

/** The entry as written: fields in a fixed order, runners-up fastest first and capped. */
export function normalizeEntry(e: NewTuningEntry, recordedAt: string): TuningEntry {
  const runnersUp = Array.isArray(e.runnersUp) ? [...e.runnersUp].sort((a, b) => a.medianMs - b.medianMs).slice(0, MAX_RUNNERS_UP) : e.runnersUp;
  const sortedShape = (s: Shape) => (isRecord(s) ? Object.fromEntries(Object.keys(s).sort().map((k) => [k, s[k]])) : s);
  return {
    fingerprint: e.fingerprint,
    ...(e.deviceSummary !== undefined && { deviceSummary: e.deviceSummary }),
    program: e.program,
    ...(e.sizes !== undefined && { sizes: sortedShape(e.sizes) }),
    programHash: e.programHash,
    dtype: e.dtype,
    shape: sortedShape(e.shape),
    ...(e.bucket !== undefined && { bucket: sortedShape(e.bucket) }),
    tilecraftVersion: e.tilecraftVersion,
    schedule: e.schedule,
    medianMs: e.medianMs,
    spread: e.spread,
    ...(e.measuredBy !== undefined && { measuredBy: e.measuredBy }),
    candidates: e.candidates,
    strategy: e.strategy,
    tieBreak: e.tieBreak,
    toleranceBand: e.toleranceBand,
    recordedAt: e.recordedAt ?? recordedAt,
    runnersUp,
  } as TuningEntry;
}

// The entry format, checked entry by entry: one bad entry is skipped, never the whole file.
// Objects are loose, so fields this version does not know pass (and are kept).
const nonEmpty = z.string().min(1, 'must be a non-empty string');
const sizesSchema = z.record(z.string().min(1, 'axis names must be non-empty'), z.number().int().nonnegative());
const durationSchema = z.number().nonnegative();
// Knob kinds are the schedule module's business; the database only needs them to be records.
const scheduleSchema = z.record(z.string(), z.looseObject({ kind: z.string() }));

const keySchema = z.looseObject({
  fingerprint: nonEmpty,
  programHash: nonEmpty,
  dtype: z.string().refine(isDType, 'is not a tilecraft dtype'),
  shape: sizesSchema,
  tilecraftVersion: nonEmpty,
});

export const entrySchema = keySchema.extend({
  deviceSummary: z.string().optional(),
  program: z.string(),
  sizes: sizesSchema.optional(),
  bucket: sizesSchema.optional(),
  schedule: scheduleSchema,
  medianMs: durationSchema,
  spread: durationSchema,
  measuredBy: z.enum(['screen', 'final']).optional(),
  toleranceBand: durationSchema,
  candidates: z.number().int().positive(),
  strategy: nonEmpty,
  tieBreak: nonEmpty,
  recordedAt: z.string().refine((t) => !Number.isNaN(Date.parse(t)), 'must be an ISO date'),
  runnersUp: z.array(z.looseObject({ schedule: scheduleSchema, medianMs: durationSchema })),
});

/** Why `v` does not fit `schema` (its first problem, with where), or undefined when it does. */
export function problemOf(schema: z.ZodType, v: unknown): string | undefined {
  const result = schema.safeParse(v);
  if (result.success) return undefined;
  const issue = result.error.issues[0]!;
  const where = issue.path.map(String).join('.');
  return where === '' ? issue.message : `${where}: ${issue.message}`;
}

export function matches(e: TuningEntry, f: EntryFilter): boolean {
  return (
    (f.program === undefined || e.program === f.program) &&
    (f.programHash === undefined || e.programHash === f.programHash) &&
    (f.fingerprint === undefined || e.fingerprint === f.fingerprint) &&
    (f.dtype === undefined || e.dtype === f.dtype) &&
    (f.tilecraftVersion === undefined || e.tilecraftVersion === f.tilecraftVersion)
  );
}

/** How far apart two shapes are, by size ratio per axis (so 1000 is nearer 1024 than 600 is). */
function shapeDistance(a: Shape, b: Shape): number {
  let d = 0;
  for (const axis of new Set([...Object.keys(a), ...Object.keys(b)])) {
    d += Math.abs(Math.log2(((a[axis] ?? 0) + 1) / ((b[axis] ?? 0) + 1)));
  }
  return d;
}

// ---------------------------------------------------------------------------------------------

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
