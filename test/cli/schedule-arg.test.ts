import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { matmul } from '../../examples/matmul.js';
import { KnobError } from '../../src/autotune/knobs.js';
import { readScheduleArg, scheduleToReplay } from '../../src/cli/schedule-arg.js';
import { UsageError } from '../../src/cli/sizes.js';
import { planFor } from '../../src/runtime/target.js';
import { thrown } from '../helpers/thrown.js';
import { syntheticDeviceInfo } from '../autotune/fixtures.js';

const knobs = { blockM: 16, blockN: 16, blockK: 8, threadM: 2, threadN: 2, staging: 'direct' };
const sizes = { M: 64, N: 64, K: 64 };

describe('--schedule', () => {
  it('reads inline JSON, a file, and the forms tilecraft prints around a schedule', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tilecraft-schedule-')), 'best.json');
    writeFileSync(file, JSON.stringify({ schedule: { origin: 'tuned', knobs: { 'contraction:C': knobs } } }));
    expect(await readScheduleArg(JSON.stringify({ 'contraction:C': knobs }))).toEqual({ 'contraction:C': knobs });
    expect(await readScheduleArg(file)).toEqual({ 'contraction:C': knobs });
    expect(await readScheduleArg(JSON.stringify({ schedule: { 'contraction:C': knobs }, medianMs: 1 }))).toEqual({ 'contraction:C': knobs });
    const bad: unknown = await readScheduleArg('{"0": ').catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(UsageError);
  });

  it('replays exactly the knobs given, defaults for the rest', () => {
    const program = matmul.build('f32');
    const schedule = scheduleToReplay(syntheticDeviceInfo, program, sizes, { 'contraction:C': knobs });
    expect(planFor(syntheticDeviceInfo, program, sizes, { schedule }).schedule['contraction:C']).toMatchObject({ ...knobs, splitK: 1, kind: 'contraction' });
  });

  it('reports a combination the lowering rejects as a knob error naming group and knob', () => {
    const e = thrown(() => scheduleToReplay(syntheticDeviceInfo, matmul.build('f32'), sizes, { 'contraction:C': { blockM: 24 } }));
    expect(e).toBeInstanceOf(KnobError);
    expect([(e as KnobError).group, (e as KnobError).knob]).toEqual(['contraction:C', 'blockM']);
    expect(e.message).toMatch(/^--schedule: group contraction:C/);
  });
});
