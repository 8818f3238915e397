import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { DeviceInfo } from '../runtime/device.js';
import { defaultDatabasePath } from './db.js';
import { deviceFingerprint } from './fingerprint.js';

/**
 * What a device reaches, measured by probe kernels built from the same IR as every program
 * (`npm run bench -- roofline`), kept beside the tuning database keyed by device fingerprint.
 * The benches report their share of these; the cost model takes its first coefficients from them.
 */
export interface Ceilings {
  readonly measuredAt: string;
  readonly device: string;
  /** Independent chains of dependent multiply-adds per element, vec4 per lane: GFLOP/s (f16 where the device has it). */
  readonly fmaF32: number;
  readonly fmaF16?: number;
  /** A copy in vec4 and in scalars: GB/s of bytes read and written. */
  readonly copyVec4: number;
  readonly copyScalar: number;
  /** A one-element kernel: device time and wall time of one run, in microseconds. */
  readonly launchDeviceUs: number;
  readonly launchWallUs: number;
}

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
