import Table from 'cli-table3';
import { tableStyle } from './style.js';
import { describeSchedule } from '../passes/schedule.js';
import { openDatabase } from './database.js';
import { EXIT } from './exit-codes.js';

/** `autotune show`: the tuning database's entries. */
export async function showCommand(o: { program?: string; db?: string; json: boolean }): Promise<number> {
  const db = await openDatabase(o.db);
  const entries = await db.list(o.program ? { program: o.program } : {});
  if (o.json) {
    console.log(JSON.stringify({ database: db.path, entries }, null, 2));
    return EXIT.ok;
  }
  console.log(`tuning database ${db.path}: ${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}`);
  if (entries.length === 0) return EXIT.ok;
  const t = new Table({ head: ['program', 'dtype', 'shape', 'device', 'configuration', 'median', 'candidates', 'recorded'], ...tableStyle() });
  for (const { entry: e, stale } of entries) {
    t.push([
      e.program + (stale ? ' (stale)' : ''),
      e.dtype,
      Object.entries(e.sizes ?? e.shape).map(([k, v]) => `${k}=${v}`).join(' '),
      (e.deviceSummary ?? e.fingerprint).slice(0, 40),
      describeSchedule(e.schedule),
      `${e.medianMs.toFixed(3)} ms ±${(e.spread * 100).toFixed(1)}%${e.measuredBy === 'screen' ? ' ~' : ''}`,
      String(e.candidates),
      e.recordedAt.replace('T', ' ').slice(0, 19),
    ]);
  }
  console.log(t.toString());
  if (entries.some((e) => e.entry.measuredBy === 'screen')) {
    console.log('~ = not confirmed: the winner rests on its first (screening) measurement; the run was interrupted or ran out of time before measuring it again');
  }
  const stale = entries.filter((e) => e.stale).length;
  if (stale > 0) console.log(`${stale} stale: recorded by an older tilecraft under other keys, never used; tune again to replace them`);
  return EXIT.ok;
}
