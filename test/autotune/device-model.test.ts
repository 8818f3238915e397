import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { recordCeilings } from '../../src/autotune/device-model.js';
import { priorModel } from '../../src/autotune/cost-model.js';
import { MAX_COST_SAMPLES, costSamplesPath, deviceCostModel, recordSamples, recordedSamples } from '../../src/autotune/device-model.js';
import { COUNTS_VERSION, zeroCounts } from '../../src/autotune/kernel-counts.js';
import { syntheticDeviceInfo } from './fixtures.js';

const info = syntheticDeviceInfo;
const other = { ...syntheticDeviceInfo, name: 'another' };
const sample = (ms: number) => ({ counts: { ...zeroCounts(), launches: 1, flops: 1e6 * ms }, ms });

describe('the device cost model kept beside the tuning database', () => {
  it('is the ceilings model until kernels are measured, then fitted to them, per device', () => {
    const db = join(mkdtempSync(join(tmpdir(), 'tc-model-')), 'tuning.json');
    const ceilings = { measuredAt: '', device: 'synthetic', fmaF32: 10, copyVec4: 2, copyScalar: 1, launchDeviceUs: 40, launchWallUs: 60 };
    recordCeilings(info, ceilings, db);
    expect(deviceCostModel(info, db)).toEqual(priorModel(ceilings));
    recordSamples(info, [sample(1), sample(2)], db);
    recordSamples(info, [sample(3)], db);
    expect(recordedSamples(info, db).map((s) => s.ms)).toEqual([1, 2, 3]);
    expect(recordedSamples(other, db)).toEqual([]);
    const m = deviceCostModel(info, db);
    expect(m.source).toBe('fitted');
    expect(m.samples).toBe(3);
  });

  it('keeps the latest samples only', () => {
    const db = join(mkdtempSync(join(tmpdir(), 'tc-model-')), 'tuning.json');
    recordSamples(info, Array.from({ length: MAX_COST_SAMPLES + 10 }, (_, i) => sample(i + 1)), db);
    const kept = recordedSamples(info, db);
    expect(kept.length).toBe(MAX_COST_SAMPLES);
    expect(kept[0]!.ms).toBe(11);
  });

  it('starts again from a damaged file, and drops entries that are no samples', () => {
    const db = join(mkdtempSync(join(tmpdir(), 'tc-model-')), 'tuning.json');
    writeFileSync(costSamplesPath(db), '{"not json');
    expect(recordedSamples(info, db)).toEqual([]);
    expect(deviceCostModel(info, db).source).toBe('fallback');
    recordSamples(info, [sample(1)], db);
    expect(recordedSamples(info, db).length).toBe(1);
    writeFileSync(costSamplesPath(db), JSON.stringify({ x: 1 }));
    expect(recordedSamples(info, db)).toEqual([]);
  });

  it('sets aside samples counted under another version of the counts, and replaces them on the next record', () => {
    const db = join(mkdtempSync(join(tmpdir(), 'tc-model-')), 'tuning.json');
    recordSamples(info, [sample(1)], db);
    const file = JSON.parse(readFileSync(costSamplesPath(db), 'utf8')) as Record<string, { version: number }>;
    for (const r of Object.values(file)) r.version = COUNTS_VERSION - 1;
    writeFileSync(costSamplesPath(db), JSON.stringify(file));
    expect(recordedSamples(info, db)).toEqual([]);
    recordSamples(info, [sample(2)], db);
    expect(recordedSamples(info, db).map((s) => s.ms)).toEqual([2]);
  });
});
