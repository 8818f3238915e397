import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { TuningDatabase } from '../autotune/db.js';
import { type PruneCriteria, type PrunedEntry, type Sections, mergeDatabases, sectionsOf, selectExported, selectPruned } from '../autotune/db-tools.js';
import { type InvalidStoredEntry, type StoredEntry, type TuningEntry, listEntries } from '../autotune/entries.js';
import { VERSION } from '../version.js';
import { openDatabase } from './database.js';
import { EXIT } from './exit-codes.js';
import { UsageError, parseSizeList } from './sizes.js';

/**
 * `autotune db merge|prune|export`: tuning database files as things to move between machines and
 * ship. Every write goes through the database's lock and atomic replacement; the choices
 * themselves are the pure functions of `autotune/db-tools.ts`.
 */

/** `autotune db merge <out> <in...>`: the inputs' entries, the fastest of each key, into `out`. */
export async function dbMergeCommand(out: string, inputs: readonly string[], o: { force: boolean; json: boolean }): Promise<number> {
  for (const input of inputs) await mustExist(input, 'input');
  const outPath = resolve(out);
  // Naming the output among the inputs merges into it (its entries read under the lock).
  const outIsInput = inputs.some((i) => resolve(i) === outPath);
  if (!outIsInput && !o.force) await mustNotExist(out, 'name it among the inputs to merge into it, or pass --force to replace it');
  const others = await Promise.all(inputs.filter((i) => resolve(i) !== outPath).map(readInput));
  const db = await openDatabase(out, { forWriting: true });
  let merged: Sections = { entries: new Map(), stale: new Map() };
  let read = 0;
  await db.edit(
    (entries, stale) => {
      const all = outIsInput ? [...others, { entries: new Map(entries), stale: new Map(stale) }] : others;
      read = all.reduce((n, s) => n + s.entries.size, 0);
      merged = mergeDatabases(all);
      replaceAll(entries, merged.entries);
      replaceAll(stale, merged.stale);
      return true;
    },
    { replace: !outIsInput },
  );
  if (o.json) console.log(JSON.stringify({ database: db.path, inputs: inputs.map((i) => resolve(i)), entries: merged.entries.size, stale: merged.stale.size }, null, 2));
  else {
    const stale = merged.stale.size > 0 ? ` and ${merged.stale.size} stale` : '';
    console.log(`merged ${inputs.length} database${inputs.length === 1 ? '' : 's'} into ${db.path}: ${plural(merged.entries.size, 'entry', 'entries')}${stale}`);
    if (read > merged.entries.size) console.log(`${read - merged.entries.size} found in more than one input: kept the fastest of each (lowest median, then spread)`);
  }
  return EXIT.ok;
}

/** `autotune db prune`: drops the entries meeting any criterion given, printing each. */
export async function dbPruneCommand(o: { db?: string; olderThan?: string; versionMismatch: boolean; device?: string; dryRun: boolean; json: boolean }): Promise<number> {
  const criteria: PruneCriteria = {
    recordedBefore: o.olderThan === undefined ? undefined : olderThan(o.olderThan, Date.now()),
    otherVersionThan: o.versionMismatch ? VERSION : undefined,
    fingerprint: o.device,
  };
  if (Object.values(criteria).every((v) => v === undefined)) throw new UsageError('db prune needs at least one of --older-than, --version-mismatch, --device');
  const db = await openDatabase(o.db, { forWriting: !o.dryRun });
  let dropped: PrunedEntry[] = [];
  let total = 0;
  if (o.dryRun) {
    const listed = await db.list();
    [dropped, total] = [selectPruned(listed, criteria), listed.length];
  } else {
    await db.edit((entries, stale) => {
      total = entries.size + stale.size;
      dropped = selectPruned(listEntries({ entries, stale, invalid: [] }, {}), criteria);
      for (const d of dropped) (d.stale ? stale : entries).delete(d.key);
      return dropped.length > 0;
    });
  }
  if (o.json) {
    console.log(JSON.stringify({ database: db.path, dryRun: o.dryRun, dropped: dropped.map((d) => ({ key: d.key, program: d.entry.program, ...(d.stale && { stale: true }), reasons: d.reasons })), kept: total - dropped.length }, null, 2));
    return EXIT.ok;
  }
  const verb = o.dryRun ? 'would drop' : 'dropped';
  for (const d of dropped) console.log(`${verb} ${describe(d)}: ${d.reasons.join(', ')}`);
  console.log(`${verb} ${dropped.length} of ${plural(total, 'entry', 'entries')} in ${db.path}${o.dryRun ? ' (dry run: nothing written)' : ''}`);
  return EXIT.ok;
}

/** `autotune db export`: the entries matching every filter given, written as a database to ship. */
export async function dbExportCommand(o: { out: string; db?: string; program?: string; device?: string; shape: string[]; force: boolean; json: boolean }): Promise<number> {
  const sizes = o.shape.length > 0 ? parseSizeList(o.shape) : undefined;
  if (!o.force) await mustNotExist(o.out, 'pass --force to replace it');
  const source = await openDatabase(o.db);
  if (resolve(o.out) === source.path) throw new UsageError(`--out ${o.out} is the database being exported; write the subset to another file`);
  const chosen = selectExported(await source.list(), { program: o.program, fingerprint: o.device, sizes });
  if (chosen.length === 0) {
    console.error(`autotune: no entry of ${source.path} matches; nothing written (see autotune show --db ${source.path})`);
    return EXIT.failure;
  }
  const out = await openDatabase(o.out, { forWriting: true });
  await out.edit(
    (entries, stale) => {
      replaceAll(entries, new Map(chosen.map((c) => [c.key, c.entry])));
      stale.clear();
      return true;
    },
    { replace: true },
  );
  if (o.json) console.log(JSON.stringify({ database: out.path, from: source.path, entries: chosen.map((c) => c.key) }, null, 2));
  else console.log(`exported ${plural(chosen.length, 'entry', 'entries')} of ${source.path} to ${out.path}`);
  return EXIT.ok;
}

/** `30d`, `12h`, `2w` before `now`, or a date (`2026-11-01`): entries recorded before it are old. */
export function olderThan(text: string, now: number): Date {
  const age = /^(\d+)([hdw])$/.exec(text);
  if (age) return new Date(now - Number(age[1]) * { h: 3_600_000, d: 86_400_000, w: 604_800_000 }[age[2] as 'h' | 'd' | 'w']);
  if (/^\d{4}-\d{2}-\d{2}/.test(text) && !Number.isNaN(Date.parse(text))) return new Date(text);
  throw new UsageError(`--older-than ${JSON.stringify(text)} should be an age (30d, 12h, 2w) or a date (2026-11-01)`);
}

/** An input's entries; a corrupt input stops the merge (a CorruptDatabaseError) rather than count as empty. */
async function readInput(path: string): Promise<Sections> {
  const db = await TuningDatabase.open(path, { onInvalidEntry: (e: InvalidStoredEntry) => console.error(`autotune: ${e.message}`) });
  return sectionsOf(await db.list());
}

function replaceAll(target: Map<string, TuningEntry>, source: ReadonlyMap<string, TuningEntry>): void {
  target.clear();
  for (const [k, e] of source) target.set(k, e);
}

async function mustExist(path: string, what: string): Promise<void> {
  if (!(await exists(path))) throw new UsageError(`${what} ${path} does not exist`);
}

async function mustNotExist(path: string, hint: string): Promise<void> {
  if (await exists(path)) throw new UsageError(`${path} exists; ${hint}`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

function describe({ entry: e, stale }: StoredEntry): string {
  const sizes = Object.entries(e.sizes ?? e.shape).map(([k, v]) => `${k}=${v}`).join(',');
  return `${e.program}${stale ? ' (stale)' : ''} ${e.dtype} ${sizes} on ${e.deviceSummary ?? e.fingerprint}`;
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
