import { describe, expect, it } from 'vitest';
import { matmul } from '../../examples/matmul.js';
import { softmaxExample } from '../../examples/norms.js';
import { KnobError, checkRestrictions, checkSchedule } from '../../src/autotune/knobs.js';
import { searchSpace } from '../../src/autotune/space.js';
import { planFor } from '../../src/runtime/target.js';
import { thrown } from '../helpers/thrown.js';
import { syntheticDeviceInfo } from './fixtures.js';

const knobError = (f: () => unknown) => {
  const e = thrown(f);
  expect(e).toBeInstanceOf(KnobError);
  return e as KnobError;
};

describe('restricted knobs', () => {
  it('accept every knob of some group kind with a value of its sort', () => {
    expect(() => checkRestrictions({ blockK: [8, 16], staging: ['direct'], subgroups: [true], vectorWidth: [2] })).not.toThrow();
  });

  it('reject an unknown knob, naming it and listing the knobs', () => {
    const e = knobError(() => checkRestrictions({ blockKK: [8] }));
    expect(e.knob).toBe('blockKK');
    expect(e.message).toMatch(/unknown knob blockKK; the knobs are .*blockK.*workgroupSize/);
  });

  it('reject a value no group of the kinds can take', () => {
    expect(knobError(() => checkRestrictions({ staging: ['global'] })).message).toMatch(/staging .* one of shared, direct, not "global"/);
    expect(knobError(() => checkRestrictions({ unrollK: [1] })).message).toMatch(/unrollK is true or false/);
    expect(knobError(() => checkRestrictions({ blockK: ['big'] })).message).toMatch(/blockK is a non-negative integer/);
    expect(knobError(() => checkRestrictions({ vectorWidth: [2] }, ['contraction'])).message).toMatch(/one of 1, 4/);
  });

  it('reject a knob of a kind of group the program does not have, listing the knobs it has', () => {
    const program = softmaxExample.build('f32');
    const e = knobError(() => searchSpace(syntheticDeviceInfo, program, { N: 64, D: 128 }, { blockK: [8] }));
    expect(e.message).toMatch(/blockK belongs to contraction groups.*only rows groups; its knobs are rowsPerLane, splitSteps, stageSteps, subgroups, threadsPerRow, unrollSteps, workgroupSize/);
  });

  it('still restrict the search when they fit', () => {
    const space = searchSpace(syntheticDeviceInfo, matmul.build('f32'), { M: 64, N: 64, K: 64 }, { blockK: [8] });
    expect(space.dims.find((d) => d.knob === 'blockK')?.values).toEqual([8]);
  });
});

describe('a schedule written by hand', () => {
  const plan = planFor(syntheticDeviceInfo, matmul.build('f32'), { M: 64, N: 64, K: 64 });

  it('passes with knobs of its groups and replays exactly', () => {
    const given = { 'contraction:C': { blockM: 16, blockN: 16, blockK: 8, threadM: 2, threadN: 2, staging: 'direct' } };
    const schedule = checkSchedule(plan.groups, given);
    expect(planFor(syntheticDeviceInfo, matmul.build('f32'), { M: 64, N: 64, K: 64 }, { schedule }).schedule['contraction:C']).toMatchObject(given['contraction:C']);
  });

  it('names the group and knob that are wrong', () => {
    const unknown = knobError(() => checkSchedule(plan.groups, { 'contraction:C': { blokM: 16 } }));
    expect([unknown.group, unknown.knob]).toEqual(['contraction:C', 'blokM']);
    expect(unknown.message).toMatch(/group contraction:C \(contraction\): contraction groups have no knob blokM; their knobs are blockM/);
    expect(knobError(() => checkSchedule(plan.groups, { '3': {} })).message).toMatch(/group 3, but this program's groups are contraction:C/);
    expect(knobError(() => checkSchedule(plan.groups, { 'contraction:C': { kind: 'rows' } })).message).toMatch(/is a contraction group/);
    expect(knobError(() => checkSchedule(plan.groups, { 'contraction:C': { splitK: -1 } })).knob).toBe('splitK');
    expect(knobError(() => checkSchedule(plan.groups, [1])).message).toMatch(/JSON object of knobs by group id/);
  });
});
