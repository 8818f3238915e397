import { type Sizes } from '../ir/bind.js';
import { canonicalJson } from '../ir/hash.js';
import { type Contents, type StoredEntry, type TuningEntry, compare, normalizeEntry } from './entries.js';

/**
 * What `autotune db merge`, `prune` and `export` compute, without files: pure functions over a
 * database's entries. The command line reads and writes the files (with the database's lock and
 * atomic replacement).
 */

/** The entries of one database, by section: what a merge takes. */
export type Sections = Pick<Contents, 'entries' | 'stale'>;

/**
 * The total order that decides which of two entries for the same key a merge keeps (the smaller):
 * lower median time, then lower spread, then the smaller canonical JSON of the schedule, then of
 * the whole entry. Two entries that compare equal are the same entry, so the winner never depends
 * on which input came first.
 */
export function compareEntries(a: TuningEntry, b: TuningEntry): number {
  return a.medianMs - b.medianMs || a.spread - b.spread || compare(canonicalJson(a.schedule), canonicalJson(b.schedule)) || compare(canonicalJson(a), canonicalJson(b));
}

/**
 * An entry as a merge writes it: known fields in the order the tuner writes them, runners-up
 * fastest first and capped, then any fields this version does not know, sorted by name (kept, so
 * an older tilecraft does not strip them).
 */
export function canonicalEntry(e: TuningEntry): TuningEntry {
  const known = normalizeEntry(e, e.recordedAt) as unknown as Record<string, unknown>;
  const all = e as unknown as Record<string, unknown>;
  const extra = Object.keys(all)
    .filter((k) => !Object.hasOwn(known, k))
    .sort(compare)
    .map((k) => [k, all[k]] as const);
  return { ...known, ...Object.fromEntries(extra) } as unknown as TuningEntry;
}

/**
 * Merges databases: every key of any input, each section (current and stale) on its own, the
 * winner of a key decided by `compareEntries`. The result is the same whatever the order of the
 * inputs, and so is the file `serialize` writes of it (it sorts keys).
 */
export function mergeDatabases(inputs: readonly Sections[]): Sections {
  const merge = (maps: readonly ReadonlyMap<string, TuningEntry>[]) => {
    const out = new Map<string, TuningEntry>();
    for (const map of maps) {
      for (const [key, entry] of map) {
        const candidate = canonicalEntry(entry);
        const held = out.get(key);
        if (held === undefined || compareEntries(candidate, held) < 0) out.set(key, candidate);
      }
    }
    return out;
  };
  return { entries: merge(inputs.map((i) => i.entries)), stale: merge(inputs.map((i) => i.stale)) };
}

/** A database's entries as sections, from what `TuningDatabase.list` returns. */
export function sectionsOf(listed: readonly StoredEntry[]): Sections {
  return {
    entries: new Map(listed.filter((s) => !s.stale).map((s) => [s.key, s.entry])),
    stale: new Map(listed.filter((s) => s.stale).map((s) => [s.key, s.entry])),
  };
}

/** Which entries `autotune db prune` drops: any entry that meets at least one of the criteria given. */
export interface PruneCriteria {
  /** Entries recorded before this time. */
  readonly recordedBefore?: Date | undefined;
  /** Entries recorded by a tilecraft version other than this one (they are never looked up). */
  readonly otherVersionThan?: string | undefined;
  /** Entries of the device with this fingerprint. */
  readonly fingerprint?: string | undefined;
}

export interface PrunedEntry extends StoredEntry {
  /** Why it is dropped, one phrase per criterion it meets. */
  readonly reasons: readonly string[];
}

/** Why `prune` drops an entry (empty: it is kept). */
export function pruneReasons(e: TuningEntry, c: PruneCriteria): string[] {
  const reasons: string[] = [];
  if (c.otherVersionThan !== undefined && e.tilecraftVersion !== c.otherVersionThan) reasons.push(`tilecraft ${e.tilecraftVersion}`);
  if (c.recordedBefore !== undefined && Date.parse(e.recordedAt) < c.recordedBefore.getTime()) reasons.push(`recorded ${e.recordedAt}`);
  if (c.fingerprint !== undefined && e.fingerprint === c.fingerprint) reasons.push(`device ${e.fingerprint}`);
  return reasons;
}

/** The entries (current and stale, in the order given) that `prune` drops, with why. */
export function selectPruned(listed: readonly StoredEntry[], c: PruneCriteria): PrunedEntry[] {
  return listed.map((s) => ({ ...s, reasons: pruneReasons(s.entry, c) })).filter((s) => s.reasons.length > 0);
}

/** Which entries `autotune db export` writes: current ones matching every field given. */
export interface ExportFilter {
  readonly program?: string | undefined;
  readonly fingerprint?: string | undefined;
  /** Sizes under the program's own names (`{ N: 1024 }`); an entry matches when it has each of them. */
  readonly sizes?: Sizes | undefined;
}

/** The current entries `export` writes (stale ones never: no lookup would use them). */
export function selectExported(listed: readonly StoredEntry[], f: ExportFilter): StoredEntry[] {
  return listed.filter(({ entry: e, stale }) => {
    if (stale || (f.program !== undefined && e.program !== f.program) || (f.fingerprint !== undefined && e.fingerprint !== f.fingerprint)) return false;
    const sizes = e.sizes ?? e.shape;
    return Object.entries(f.sizes ?? {}).every(([name, value]) => sizes[name] === value);
  });
}
