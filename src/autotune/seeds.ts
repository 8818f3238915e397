import type { Schedule } from '../passes/schedule.js';
import type { TuningDatabase } from './db.js';
import type { TuningKeyFields } from './lookup.js';

/**
 * Schedules recorded for the same program and dtype on the same device at any sizes — the
 * winners and their runners-up — as starting points: a good tiling for 512³ is a good first
 * guess for 1024³.
 */
export async function seedsFromDatabase(db: TuningDatabase, key: TuningKeyFields, most = 8): Promise<Schedule[]> {
  const entries = await db.list({ programHash: key.programHash, fingerprint: key.fingerprint, dtype: key.dtype });
  const seeds: Schedule[] = [];
  for (const { entry } of entries) {
    seeds.push(entry.schedule);
    for (const r of entry.runnersUp.slice(0, 2)) seeds.push(r.schedule);
  }
  return seeds.slice(0, most);
}
