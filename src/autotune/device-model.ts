import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { DeviceInfo } from '../runtime/device.js';
import type { Ceilings } from './ceilings.js';
import { defaultDatabasePath } from './db.js';
import { type CostModel, type CostSample, fitCostModel, priorModel } from './cost-model.js';
import { deviceFingerprint } from './fingerprint.js';
import { COST_FEATURES, COUNTS_VERSION } from './kernel-counts.js';

/*
 * What tilecraft knows of a device beside its tuning database: the ceilings the roofline probes
 * measured (ceilings.json) and the kernels tuning runs measured (cost-samples.json), both keyed
 * by device fingerprint, and the cost model they make. Node only: the model itself and the
 * ceilings' shape are browser-safe (cost-model.ts, ceilings.ts).
 */

/** Where ceilings are kept: beside the tuning database (`db`, else the default one). */
export function ceilingsPath(db: string | undefined): string {
  return join(dirname(db ?? defaultDatabasePath(process.env, homedir(), process.platform)), 'ceilings.json');
}

/** The ceilings recorded for this device, if `npm run bench -- roofline` ran here. */
export function recordedCeilings(info: DeviceInfo, db?: string): Ceilings | undefined {
  const path = ceilingsPath(db);
  if (!existsSync(path)) return undefined;
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as Record<string, Ceilings>)[deviceFingerprint(info)];
  } catch {
    return undefined;
  }
}

/** Records a device's ceilings beside the tuning database, keeping other devices'; returns the file. */
export function recordCeilings(info: DeviceInfo, ceilings: Ceilings, db?: string): string {
  const path = ceilingsPath(db);
  let all: Record<string, Ceilings> = {};
  try {
    if (existsSync(path)) all = JSON.parse(readFileSync(path, 'utf8')) as Record<string, Ceilings>;
  } catch {
    // an unreadable file is replaced: it holds only measurements the probes take again
  }
  all[deviceFingerprint(info)] = ceilings;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(all, null, 2) + '\n');
  return path;
}

/** Kernels kept per device: the latest, so that the model follows driver and machine changes. */
export const MAX_COST_SAMPLES = 4000;

/** Where measured kernels are kept for the cost model: beside the tuning database, like the ceilings. */
export function costSamplesPath(db: string | undefined): string {
  return join(dirname(ceilingsPath(db)), 'cost-samples.json');
}

/** Per device fingerprint: the kernels measured there, counted under `version` (`COUNTS_VERSION`). */
type SampleFile = Record<string, { readonly version?: number; readonly samples: readonly CostSample[] }>;

function readSamples(path: string): SampleFile {
  if (!existsSync(path)) return {};
  try {
    const all = JSON.parse(readFileSync(path, 'utf8')) as SampleFile;
    return typeof all === 'object' && all !== null ? all : {};
  } catch {
    // the samples only refine the model: a damaged file is started again, never an error
    return {};
  }
}

const isSample = (s: unknown): s is CostSample =>
  typeof s === 'object' && s !== null && typeof (s as CostSample).ms === 'number' && COST_FEATURES.every((f) => typeof (s as CostSample).counts?.[f] === 'number');

/** The kernels measured on this device so far (by any tuning run that recorded them), counted as this version counts. */
export function recordedSamples(info: DeviceInfo, db?: string): CostSample[] {
  return current(readSamples(costSamplesPath(db))[deviceFingerprint(info)]);
}

/** A device's samples, where they were counted as this version counts (others meant other things). */
function current(record: SampleFile[string] | undefined): CostSample[] {
  return record?.version === COUNTS_VERSION ? record.samples.filter(isSample) : [];
}

/**
 * Adds measured kernels to this device's record, keeping the latest `MAX_COST_SAMPLES`. The file
 * is replaced whole through a rename, so a reader never sees half of it; two runs recording at
 * once may lose one run's samples, which costs the model a little precision, nothing else.
 */
export function recordSamples(info: DeviceInfo, samples: readonly CostSample[], db?: string): void {
  if (samples.length === 0) return;
  const path = costSamplesPath(db);
  const all = readSamples(path);
  const key = deviceFingerprint(info);
  all[key] = { version: COUNTS_VERSION, samples: [...current(all[key]), ...samples].slice(-MAX_COST_SAMPLES) };
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(all) + '\n');
  renameSync(tmp, path);
}

/**
 * This device's cost model: the ceilings' (measured by `npm run bench -- roofline`, else a
 * software GPU's), fitted to the kernels tuning runs measured here where there are any.
 */
export function deviceCostModel(info: DeviceInfo, db?: string): CostModel {
  const prior = priorModel(recordedCeilings(info, db));
  return fitCostModel(recordedSamples(info, db), prior);
}
