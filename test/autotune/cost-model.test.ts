import { describe, expect, it } from 'vitest';
import { matmul } from '../../examples/matmul.js';
import type { Ceilings } from '../../src/autotune/ceilings.js';
import { type CostModel, fitCostModel, planSamples, predictCounts, priorModel, rankCorrelation } from '../../src/autotune/cost-model.js';
import { COST_FEATURES, type CostFeature, zeroCounts } from '../../src/autotune/kernel-counts.js';
import { rng } from '../../src/ir/host.js';
import { planFor } from '../../src/runtime/target.js';
import { syntheticDeviceInfo } from './fixtures.js';

const ceilings: Ceilings = { measuredAt: '', device: 'test', fmaF32: 20, copyVec4: 2, copyScalar: 1, launchDeviceUs: 50, launchWallUs: 80 };

/** Random kernels' counts, timed by a known model. */
function samplesOf(truth: CostModel, n: number, seed: number) {
  const random = rng(seed);
  return Array.from({ length: n }, () => {
    const counts = zeroCounts();
    counts.launches = 1;
    for (const f of COST_FEATURES) if (f !== 'launches') counts[f] = Math.floor(random() * 1e6 * (random() < 0.3 ? 0 : 1));
    return { counts, ms: predictCounts(truth, counts) };
  });
}

describe('cost model', () => {
  it('prices operations from the ceilings: twice the FMA rate halves the cost of a flop', () => {
    const a = priorModel(ceilings);
    const b = priorModel({ ...ceilings, fmaF32: 40 });
    expect(b.weights.flops).toBeCloseTo(a.weights.flops / 2, 12);
    expect(a.weights.launches).toBeCloseTo(0.05, 12);
    // measured per-operation costs replace what the copies imply
    const probed = priorModel({ ...ceilings, globalLoadNs: 0.5, sharedLoadNs: 0.25, barrierNs: 3 });
    expect(probed.weights.globalLoads).toBeCloseTo(0.5e-6, 15);
    expect(probed.weights.sharedLoads).toBeCloseTo(0.25e-6, 15);
    expect(probed.weights.barriers).toBeCloseTo(3e-6, 15);
    for (const f of COST_FEATURES) expect(a.weights[f]).toBeGreaterThan(0);
  });

  it('fitting recovers the weights that timed the samples, from a prior three times off', () => {
    const prior = priorModel(ceilings);
    const truth: CostModel = { ...prior, weights: Object.fromEntries(COST_FEATURES.map((f, i) => [f, prior.weights[f] * (i % 2 ? 3 : 1 / 3)])) as Record<CostFeature, number> };
    const fitted = fitCostModel(samplesOf(truth, 400, 1), prior, 0);
    expect(fitted.source).toBe('fitted');
    expect(fitted.samples).toBe(400);
    for (const f of COST_FEATURES) expect(fitted.weights[f] / truth.weights[f]).toBeCloseTo(1, 2);
    // and it predicts kernels it never saw
    for (const s of samplesOf(truth, 20, 2)) expect(predictCounts(fitted, s.counts) / s.ms).toBeCloseTo(1, 2);
  });

  it('keeps the prior weight of a feature no sample exercises, and never a negative weight', () => {
    const prior = priorModel(ceilings);
    const samples = samplesOf(prior, 50, 3).map((s) => ({ counts: { ...s.counts, barriers: 0 }, ms: s.ms * 0.5 }));
    const fitted = fitCostModel(samples, prior);
    expect(fitted.weights.barriers).toBeCloseTo(prior.weights.barriers, 15);
    for (const f of COST_FEATURES) expect(fitted.weights[f]).toBeGreaterThanOrEqual(0);
  });

  it('without samples is the prior', () => {
    const prior = priorModel(ceilings);
    expect(fitCostModel([], prior)).toBe(prior);
    expect(fitCostModel([{ counts: zeroCounts(), ms: Number.NaN }], prior)).toBe(prior);
  });

  it('makes one sample per kernel of a measured plan, and none from a total it cannot share out', () => {
    const plan = planFor(syntheticDeviceInfo, matmul.build('f32'), { M: 64, N: 64, K: 512 }, { schedule: { 'contraction:C': { splitK: 2 } } });
    expect(plan.kernels.length).toBe(2);
    expect(planSamples(plan, [1, 2], 3).map((s) => s.ms)).toEqual([1, 2]);
    expect(planSamples(plan, undefined, 3)).toEqual([]);
  });

  it('rank correlation is 1 for the same order and -1 for the reverse', () => {
    expect(rankCorrelation([1, 2, 3, 4], [10, 20, 30, 40])).toBe(1);
    expect(rankCorrelation([1, 2, 3, 4], [40, 30, 20, 10])).toBe(-1);
  });
});
