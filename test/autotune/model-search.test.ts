import { describe, expect, it } from 'vitest';
import { attention } from '../../examples/attention.js';
import { matmul } from '../../examples/matmul.js';
import { type CostModel, predictCounts, priorModel } from '../../src/autotune/cost-model.js';
import { countKernel, COST_FEATURES, type CostFeature } from '../../src/autotune/kernel-counts.js';
import { summarize } from '../../src/autotune/measure.js';
import { lowerPoint, modelSchedule, modelScheduleSource } from '../../src/autotune/model-search.js';
import { allPoints, searchSpace } from '../../src/autotune/space.js';
import { type Measurer, tune } from '../../src/autotune/tuner.js';
import { program } from '../../src/dsl/program.js';
import { randomHost } from '../../src/ir/host.js';
import type { Plan } from '../../src/passes/pipeline.js';
import type { ScheduleSource } from '../../src/runtime/executable.js';
import { Executable } from '../../src/runtime/executable.js';
import { checkOnDevice, currentDevice } from '../helpers/device.js';
import { syntheticDeviceInfo } from './fixtures.js';

const softmax = program('softmax', (p) => {
  const [n, d] = p.sizes('N', 'D');
  const x = p.input('X', 'f32', { i: n, j: d });
  const e = x.sub(x.max('j')).exp();
  p.output('Y', e.div(e.sum('j')));
});

describe('schedules chosen by the cost model', () => {
  // shapes that are no multiple of any tile
  const cases = [
    { name: 'matmul', p: matmul.build('f32'), sizes: { M: 100, N: 72, K: 50 } },
    { name: 'attention', p: attention.build('f32'), sizes: { B: 1, H: 2, N: 70, M: 90, D: 16 } },
    { name: 'softmax', p: softmax, sizes: { N: 33, D: 300 } },
  ];
  for (const c of cases) {
    it(`${c.name}: runs correctly on the device, and the model expects it no slower than the default`, async () => {
      const device = await currentDevice();
      const model = priorModel();
      const choice = modelSchedule(device.info, c.p, c.sizes, model);
      expect(choice.predictedMs).toBeLessThanOrEqual(choice.defaultPredictedMs);
      expect(choice.evaluated).toBeGreaterThan(1);
      // deterministic: the same choice again
      expect(modelSchedule(device.info, c.p, c.sizes, model).schedule).toEqual(choice.schedule);
      const inputs = Object.fromEntries(choice.plan.tensors.filter((t) => t.role === 'input').map((t, i) => [t.name, randomHost(t.dtype, t.shape, i + 1)]));
      const { failures } = await checkOnDevice(c.p, c.sizes, inputs, { compile: { schedule: choice.schedule } });
      expect(failures).toEqual([]);
    });
  }

  it('is what an executable takes when no tuning source has a schedule, and never asked when one has', async () => {
    const device = await currentDevice();
    const sizes = { M: 40, N: 24, K: 16 };
    const p = matmul.build('f32');
    let asked = 0;
    const model = modelScheduleSource(priorModel());
    const counting: ScheduleSource = { fallback: true, tunedSchedule: (...a) => (asked++, model.tunedSchedule(...a)) };
    const none: ScheduleSource = { tunedSchedule: async () => undefined };
    const exe = await Executable.create(device, p, sizes, { tuning: [none, counting] });
    expect(exe.scheduleOrigin).toBe('model');
    expect(exe.plan.schedule).toEqual(modelSchedule(device.info, p, sizes, priorModel()).schedule);
    exe.destroy();
    const tuned: ScheduleSource = { tunedSchedule: async () => ({ schedule: { 'contraction:C': { blockK: 8 } }, match: 'bucket' }) };
    const exe2 = await Executable.create(device, p, sizes, { tuning: [counting, tuned] });
    expect(exe2.scheduleOrigin).toBe('tuned-bucket');
    expect(asked).toBe(1);
    exe2.destroy();
  });
});

describe('guided search ranked by a cost model', () => {
  const info = syntheticDeviceInfo;
  const p = matmul.build('f32');
  const sizes = { M: 128, N: 128, K: 64 };
  const space = searchSpace(info, p, sizes, { blockM: [16, 32, 64], blockN: [16, 32, 64], blockK: [8, 16], threadM: [1, 2, 4], threadN: [1, 2, 4], staging: ['shared', 'direct'], vectorWidth: [1, 4] });
  // the "device": a model the search does not know, its weights a fixed distortion of the prior's
  const prior = priorModel();
  const truth: CostModel = { ...prior, weights: Object.fromEntries(COST_FEATURES.map((f, i) => [f, prior.weights[f] * [0.5, 2, 1, 3, 0.7][i % 5]!])) as Record<CostFeature, number> };
  const timeOf = (plan: Plan) => plan.kernels.map((k) => predictCounts(truth, countKernel(k)));
  const measure: Measurer = async (plan) => {
    const ms = timeOf(plan);
    const total = ms.reduce((a, b) => a + b, 0);
    return { status: 'ok', measurement: { ...summarize([total, total, total], 'device'), kernelMs: ms } };
  };
  const optimum = Math.min(...[...allPoints(space)].map((pt) => lowerPoint(info, p, sizes, space, pt)).filter((x): x is Plan => !!x).map((pl) => timeOf(pl).reduce((a, b) => a + b, 0)));
  const toReach = async (seed: number, model?: CostModel) => {
    const r = await tune(info, p, sizes, space, measure, { strategy: 'guided', budget: { trials: 60 }, seed, ...(model ? { model } : {}) });
    const i = r.candidates.findIndex((c) => c.screen!.medianMs <= optimum * 1.05);
    return i < 0 ? 61 : i + 1;
  };

  it('comes within 5% of the optimum in fewer measurements than the same search without it (median of 5 seeds)', async () => {
    const without: number[] = [];
    const withModel: number[] = [];
    for (const seed of [1, 2, 3, 4, 5]) {
      without.push(await toReach(seed));
      withModel.push(await toReach(seed, prior));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[2]!;
    expect(median(withModel)).toBeLessThan(median(without));
  }, 120_000);

  it('returns the kernels it measured as samples for the model', async () => {
    const r = await tune(info, p, sizes, space, measure, { strategy: 'guided', budget: { trials: 5 }, seed: 1, model: prior });
    expect(r.samples.length).toBe(r.candidates.length);
    for (const s of r.samples) expect(s.ms).toBeGreaterThan(0);
  });
});
