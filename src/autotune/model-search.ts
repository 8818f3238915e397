import { type Sizes } from '../ir/bind.js';
import { TilecraftError } from '../ir/errors.js';
import { rng } from '../ir/host.js';
import { type Program } from '../ir/tensor.js';
import { type Plan } from '../passes/pipeline.js';
import { InvalidScheduleError, type ResolvedSchedule, type Schedule } from '../passes/schedule.js';
import type { DeviceInfo } from '../runtime/device.js';
import type { ScheduleSource } from '../runtime/executable.js';
import { planFor } from '../runtime/target.js';
import { type CostModel, type CostSample, fitCostModel, planCounts, predictCounts } from './cost-model.js';
import type { KernelCounts } from './kernel-counts.js';
import { deviceSeeds } from './seeds.js';
import { type Point, type SearchSpace, type SpaceLowering, defaultPoint, pointOf, scheduleAt, searchSpace } from './space.js';

/**
 * Lowers a point of a space, dropping knobs of groups its plan does not have (a chunk size
 * decides which intermediates a chunked recurrence stores). Undefined where the schedule is
 * invalid or exceeds the device's limits.
 */
export function lowerPoint(info: DeviceInfo, program: Program, sizes: Sizes, space: SearchSpace, point: Point): Plan | undefined {
  const schedule: Record<string, Schedule[string]> = { ...scheduleAt(space, point) };
  for (;;) {
    try {
      return planFor(info, program, sizes, { ...space.lowering, schedule });
    } catch (e) {
      if (e instanceof InvalidScheduleError && e.knob === '' && Object.hasOwn(schedule, e.group)) {
        delete schedule[e.group];
        continue;
      }
      const name = (e as Error).name;
      if (name === 'InvalidScheduleError' || name === 'DeviceLimitError') return undefined;
      throw e;
    }
  }
}

/**
 * Ranks points of a space by a cost model before anything is measured: each is lowered once
 * (cached) and its kernels' predicted times added up. Measured kernels refine the model as they
 * come (`learn`): the model's weights are fitted again to everything measured so far, with the
 * starting model as the prior.
 */
export class ModelRanker {
  private readonly plans = new Map<string, { plan: Plan; counts: KernelCounts[] } | null>();
  private readonly samples: CostSample[] = [];
  private fitted: CostModel;
  private sinceFit = 0;

  constructor(
    readonly info: DeviceInfo,
    readonly program: Program,
    readonly sizes: Sizes,
    readonly space: SearchSpace,
    readonly prior: CostModel,
  ) {
    this.fitted = prior;
  }

  get model(): CostModel {
    return this.fitted;
  }

  /** The point's plan and its kernels' counts (undefined where it does not lower). */
  lowered(point: Point): { plan: Plan; counts: KernelCounts[] } | undefined {
    const id = point.join(',');
    if (!this.plans.has(id)) {
      const plan = lowerPoint(this.info, this.program, this.sizes, this.space, point);
      this.plans.set(id, plan ? { plan, counts: planCounts(plan, this.info) } : null);
    }
    return this.plans.get(id) ?? undefined;
  }

  /** Points lowered so far. */
  evaluatedCount(): number {
    return this.plans.size;
  }

  /** The predicted milliseconds of a point (Infinity where it does not lower). */
  predict(point: Point): number {
    const l = this.lowered(point);
    return l ? l.counts.reduce((t, c) => t + predictCounts(this.fitted, c), 0) : Infinity;
  }

  /** The points in predicted order, fastest first, those that do not lower left out. */
  rank(points: readonly Point[]): Point[] {
    return points
      .map((p) => ({ p, t: this.predict(p) }))
      .filter((x) => Number.isFinite(x.t))
      .sort((a, b) => a.t - b.t)
      .map((x) => x.p);
  }

  /** Learns from a measured candidate's kernels; the weights are fitted again every few candidates. */
  learn(samples: readonly CostSample[]): void {
    if (samples.length === 0) return;
    this.samples.push(...samples);
    if (++this.sinceFit >= 4) {
      this.sinceFit = 0;
      this.fitted = fitCostModel(this.samples, this.prior);
    }
  }
}

/** What `modelSchedule` chose, and what the model expects of it and of the default. */
export interface ModelChoice {
  readonly schedule: ResolvedSchedule;
  readonly plan: Plan;
  readonly predictedMs: number;
  readonly defaultPredictedMs: number;
  /** Schedules lowered and predicted to choose it. */
  readonly evaluated: number;
}

/**
 * A schedule chosen by a cost model, with nothing measured: the default schedule, the device's
 * seeds and `pool` random points of the search space are predicted, then the best of them is
 * improved one knob step at a time while the model predicts a gain (at most `steps` moves).
 * Deterministic for a given seed. About 5-15 ms of lowering per point evaluated.
 */
export function modelSchedule(
  info: DeviceInfo,
  program: Program,
  sizes: Sizes,
  model: CostModel,
  o: { readonly pool?: number; readonly steps?: number; readonly seed?: number; readonly lowering?: SpaceLowering } = {},
): ModelChoice {
  const space = searchSpace(info, program, sizes, {}, o.lowering ?? {});
  const ranker = new ModelRanker(info, program, sizes, space, model);
  const random = rng(o.seed ?? 1);
  const dflt = defaultPoint(space);
  const start = [dflt, ...deviceSeeds(info, space).map((s) => pointOf(space, s))];
  for (let i = 0; i < (o.pool ?? 48); i++) start.push(space.dims.map((d) => Math.floor(random() * d.values.length)));
  let best = ranker.rank(start)[0] ?? dflt;
  let bestMs = ranker.predict(best);
  for (let moves = 0; moves < (o.steps ?? 12); moves++) {
    const next = ranker.rank(neighbours(space, best))[0];
    if (!next || ranker.predict(next) >= bestMs) break;
    best = next;
    bestMs = ranker.predict(next);
  }
  const chosen = ranker.lowered(best);
  if (!chosen) throw new TilecraftError(`${program.name}: no schedule lowers for this device, not even the default one`);
  return { schedule: chosen.plan.schedule, plan: chosen.plan, predictedMs: bestMs, defaultPredictedMs: ranker.predict(dflt), evaluated: ranker.evaluatedCount() };
}

/** Every point one knob step away (numeric knobs to the next value, choices to any other). */
function neighbours(space: SearchSpace, p: Point): Point[] {
  const out: Point[] = [];
  space.dims.forEach((d, i) => {
    const numeric = typeof d.values[0] === 'number';
    for (let v = 0; v < d.values.length; v++) {
      if (v === p[i] || (numeric && Math.abs(v - p[i]!) !== 1)) continue;
      const q = [...p];
      q[i] = v;
      out.push(q);
    }
  });
  return out;
}

/**
 * Schedules chosen by a cost model, as a source an executable asks only when no tuning database
 * has a schedule for the program (a fallback: any measured schedule beats the model's choice).
 */
export function modelScheduleSource(model: CostModel): ScheduleSource {
  return {
    fallback: true,
    tunedSchedule: async (device, program, sizes) => {
      try {
        return { schedule: modelSchedule(device, program, sizes, model).schedule, match: 'model' };
      } catch (e) {
        // nothing lowers for this device: the default schedule's own lowering says why
        if (e instanceof TilecraftError) return undefined;
        throw e;
      }
    },
  };
}
