import type { ContractionKnobs, RowsKnobs, Schedule } from '../passes/schedule.js';
import type { DeviceInfo } from '../runtime/device.js';
import { fixedSubgroupSize } from '../runtime/target.js';
import type { TuningKeyFields } from './lookup.js';
import type { SearchSpace } from './space.js';

/** What seeds are read from: the tuning database's `list` (kept structural, so this module needs no file system). */
export interface SeedSource {
  list(filter: Pick<TuningKeyFields, 'programHash' | 'fingerprint' | 'dtype'>): Promise<readonly { readonly entry: { readonly schedule: Schedule; readonly runnersUp: readonly { readonly schedule: Schedule }[] }; readonly stale?: boolean }[]>;
}

/**
 * Schedules recorded for the same program and dtype on the same device at any sizes — the
 * winners and their runners-up — as starting points: a good tiling for 512³ is a good first
 * guess for 1024³.
 */
export async function seedsFromDatabase(db: SeedSource, key: TuningKeyFields, most = 8): Promise<Schedule[]> {
  const entries = await db.list({ programHash: key.programHash, fingerprint: key.fingerprint, dtype: key.dtype });
  const seeds: Schedule[] = [];
  for (const { entry, stale } of entries) {
    if (stale) continue;
    seeds.push(entry.schedule);
    for (const r of entry.runnersUp.slice(0, 2)) seeds.push(r.schedule);
  }
  return seeds.slice(0, most);
}

/**
 * Starting points from what is known about a kind of device, beside the database's. Where the
 * device has one fixed subgroup size S, every contraction is also tried with A shared by subgroup
 * shuffles: 8 rows per invocation, one subgroup of invocations across the columns, one shuffle
 * round per blockK. On the software GPU this beat every tiling without shuffles by 1.4-1.8x
 * (loads dominate there), and random search rarely lands on it: it needs blockM == threadM and
 * whole subgroups at once. A seed that does not fit a space is skipped by the tuner.
 */
export function deviceSeeds(info: DeviceInfo, space: SearchSpace): Schedule[] {
  const S = fixedSubgroupSize(info);
  if (S === undefined) return stagedSeeds(space);
  const threadN = Math.max(1, Math.min(8, 128 / S));
  const schedule: Record<string, Partial<ContractionKnobs>> = {};
  for (const [id, k] of Object.entries(space.defaults)) {
    if (k.kind !== 'contraction' || k.tensorCores) continue;
    // the shuffle loop stays a loop: unrolled, nvcc keeps a warp's 32 steps of B in registers (up to 255)
    schedule[id] = { blockM: 8, threadM: 8, blockN: S * threadN, threadN, blockK: S, staging: 'direct', shuffleA: true, vectorK: 1, splitK: 1, unrollK: false };
  }
  return [...(Object.keys(schedule).length ? [schedule] : []), ...stagedSeeds(space)];
}

/**
 * A row fold whose operands many rows share (attention's prefill) is also tried staged: 8 lanes
 * (one subgroup on the software GPU, no waits at barriers) owning 8 rows each, key tiles of 16;
 * measured 2.2x the three-kernel plan's default there at N = M = 512. It takes four knobs at
 * once, which random search seldom sets together; lowering refuses it where nothing is shared.
 */
function stagedSeeds(space: SearchSpace): Schedule[] {
  const schedule: Record<string, Partial<RowsKnobs>> = {};
  const lanePerRow: Record<string, Partial<RowsKnobs>> = {};
  for (const d of space.dims) {
    if (d.knob === 'stageSteps' && d.values.includes(16)) schedule[d.group] = { threadsPerRow: 1, workgroupSize: 8, stageSteps: 16, rowsPerLane: 8, splitSteps: 1 };
    // many long rows (a GEMV's outputs): a lane walks four rows in blocks of steps, side by side,
    // reading the vector they share once for the four (an int4 GEMV at N = K = 4096 on the
    // software GPU: 8 ms, against 12 ms with one row per lane and 28 ms with a 64-lane team)
    if (d.knob === 'unrollSteps') lanePerRow[d.group] = { threadsPerRow: 1, workgroupSize: 16, splitSteps: 1, stageSteps: 0, rowsPerLane: 4 };
  }
  return [schedule, lanePerRow].filter((s) => Object.keys(s).length > 0);
}
