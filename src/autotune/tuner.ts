import { type Sizes } from '../ir/bind.js';
import { rng } from '../ir/host.js';
import { canonicalJson } from '../ir/hash.js';
import { type Program } from '../ir/tensor.js';
import { type Plan } from '../passes/pipeline.js';
import { type ResolvedSchedule, type Schedule } from '../passes/schedule.js';
import type { DeviceInfo } from '../runtime/device.js';
import { planKey } from '../runtime/target.js';
import { type Measurement, impossibleTiming, summarize } from './measure.js';
import { type CostModel, type CostSample, planSamples } from './cost-model.js';
import { ModelRanker, lowerPoint } from './model-search.js';
import { deviceSeeds } from './seeds.js';
import type { CandidateOutcome, CandidateStatus, MeasureRequest } from './protocol.js';
import { type Point, type SearchSpace, allPoints, defaultPoint, pointOf, spaceSize } from './space.js';

export type StrategyName = 'exhaustive' | 'guided' | 'auto';

export interface TuneOptions {
  readonly strategy: StrategyName;
  /**
   * Stop after this many distinct candidates measured, or this many seconds, whichever first; a
   * limit left out is no limit. The seconds cover the whole run, counted from `startedAt`:
   * screening stops early enough to leave time for measuring the leaders again (at their screened
   * speeds plus what compiling and checking a candidate has cost so far), a leader is measured
   * again only where that fits in the time left, and no candidate is given more time than is left
   * (plus BUDGET_MARGIN_MS). The default schedule is measured whatever the budget, even a zero one.
   */
  readonly budget: { readonly trials?: number | undefined; readonly seconds?: number | undefined };
  /**
   * The `performance.now()` the time budget counts from (default: when `tune` is called). The
   * command line counts from its process's start (0), so starting the measuring worker counts.
   */
  readonly startedAt?: number | undefined;
  /** Seconds of the time budget kept back for the caller's own work after the search (saving, printing). */
  readonly reserveSeconds: number;
  /**
   * The widest relative ± spread (half the interquartile range over the median) a timing may have
   * for a speed-up over the default to be reported as reliable. A winner or default wider than
   * this is measured again, up to `confirmRounds` more times while the time budget allows.
   */
  readonly maxSpread: number;
  readonly confirmRounds: number;
  /** Repeats of the cheap first measurement every candidate gets. */
  readonly screenRepeat: number;
  /** Warm-up and repeats when the leaders are measured again. */
  readonly finalWarmup: number;
  readonly finalRepeat: number;
  /** How many leaders are measured again. */
  readonly finalists: number;
  /** Candidates within this fraction of the fastest are tied; the tie-break picks among them. */
  readonly band: number;
  readonly seed: number;
  /**
   * Time-out per candidate (compile, check, measure). Once the default schedule is measured, a
   * candidate gets at most `slowdownLimit` times the default's measuring time plus `compileMs`.
   */
  readonly candidateTimeoutMs: number;
  readonly slowdownLimit: number;
  readonly compileMs: number;
  /**
   * A cost model to rank candidates by before measuring them (guided search): each candidate the
   * search would measure is chosen as the fastest predicted of `RANK_POOL` proposals, and the
   * model is fitted again to the kernels measured as the search goes. None: proposals are
   * measured as drawn.
   */
  readonly model?: CostModel | undefined;
  /** A first measurement this many times the best so far ends a candidate's screening. */
  readonly cutoffFactor: number;
  /** Schedules to try right after the default: earlier results for other sizes, a user's guesses. */
  readonly seeds: readonly Schedule[];
}

export const DEFAULT_TUNE: TuneOptions = {
  strategy: 'auto',
  budget: { trials: 64, seconds: 120 },
  screenRepeat: 3,
  finalWarmup: 2,
  finalRepeat: 10,
  finalists: 5,
  band: 0.03,
  seed: 1,
  candidateTimeoutMs: 120_000,
  slowdownLimit: 20,
  compileMs: 15_000,
  cutoffFactor: 2,
  seeds: [],
  reserveSeconds: 0,
  maxSpread: 0.2,
  confirmRounds: 2,
};

/** How far past its time budget a run may go: a candidate's time-out is the time left plus this. */
export const BUDGET_MARGIN_MS = 1000;

/** Proposals drawn per measurement when a model ranks them. */
export const RANK_POOL = 8;

export const TIE_BREAK = 'the default schedule if it is within the band, else the lowest canonical JSON of the schedule';

export interface Candidate {
  readonly point: Point;
  readonly schedule: ResolvedSchedule;
  /** Hash of the code the device runs: candidates with equal keys are measured once. */
  readonly key: string;
  status: CandidateStatus;
  screen?: Measurement;
  final?: Measurement;
  detail?: string;
  readonly isDefault: boolean;
}

export interface TuneProgress {
  readonly phase: 'screen' | 'final';
  readonly measured: number;
  readonly total: number;
  readonly best?: Candidate | undefined;
  readonly last?: Candidate | undefined;
}

export interface TuneResult {
  readonly best: Candidate | undefined;
  readonly default: Candidate | undefined;
  readonly candidates: readonly Candidate[];
  readonly strategy: Exclude<StrategyName, 'auto'>;
  readonly spaceSize: number;
  /** Valid, distinct candidates in the space, when the strategy counted them. */
  readonly validCount?: number;
  readonly band: number;
  readonly tieBreak: string;
  /** `error`: measuring failed for good (say the worker could not restart); `error` says why. */
  readonly stoppedBy: 'budget' | 'exhausted' | 'interrupted' | 'converged' | 'error';
  readonly error?: string;
  /** Seconds from `startedAt` to the end of the search. */
  readonly seconds: number;
  /** The kernels measured, with what each does: what a cost model of this device is fitted to. */
  readonly samples: readonly CostSample[];
  /** The winner against the default, when both ran correctly. */
  readonly speedup?: Speedup;
}

/** A timing as a speed-up rests on it. */
export interface TimingSummary {
  readonly medianMs: number;
  readonly spread: number;
  /** Measured again after screening (with warm-up and more repeats), not the first measurement alone. */
  readonly confirmed: boolean;
}

/**
 * How many times faster the winner ran than the default schedule. `reliable` only where both
 * were measured again after screening and both spreads are within `TuneOptions.maxSpread`;
 * otherwise `reason` says why the ratio should not be trusted.
 */
export interface Speedup {
  readonly ratio: number;
  readonly reliable: boolean;
  readonly reason?: string;
  readonly best: TimingSummary;
  readonly default: TimingSummary;
}

/**
 * Measures one candidate as lowered by the search (the plan's kernels run as they are, never
 * lowered again); a `MeasuringWorker` in practice, anything in tests.
 */
export type Measurer = (plan: Plan, request: Required<Pick<MeasureRequest, 'warmup' | 'repeat' | 'timeoutMs'>> & MeasureRequest) => Promise<CandidateOutcome>;

/** A candidate and the plan it was lowered to, before it is measured. */
interface Prepared {
  readonly c: Candidate;
  readonly plan: Plan;
}

/** An outcome whose timing is impossible becomes that candidate's error; other outcomes pass. */
function checked(o: CandidateOutcome): CandidateOutcome {
  if (o.status !== 'ok') return o;
  const why = impossibleTiming(o.measurement);
  return why ? { status: 'error', detail: why } : o;
}

const median = (c: Candidate) => c.final?.medianMs ?? c.screen?.medianMs ?? Infinity;
const spreadOf = (c: Candidate) => (c.final ?? c.screen)?.spread ?? Infinity;
const fastestFirst = (cs: readonly Candidate[]) => [...cs].sort((a, b) => median(a) - median(b));

class Search {
  readonly candidates: Candidate[] = [];
  private readonly byKey = new Map<string, Candidate>();
  private readonly seen = new Set<string>();
  /** The plans of candidates measured ok: the leaders are measured again from these. */
  private readonly plans = new Map<Candidate, Plan>();
  /**
   * What each measurement cost beyond the runs it timed (starting a worker, compiling, checking
   * against the reference, messaging), in ms: measuring a leader again costs it once more.
   */
  private readonly overheads: number[] = [];
  readonly start: number;
  /** Every measured kernel with its counts: the model's samples, and the run's. */
  readonly samples: CostSample[] = [];
  /** Ranks proposals before they are measured, where the options give a model. */
  readonly ranker: ModelRanker | undefined;
  stopped: TuneResult['stoppedBy'] | undefined;
  /** Why measuring failed for good, once it has. */
  error: string | undefined;

  constructor(
    readonly info: DeviceInfo,
    readonly program: Program,
    readonly sizes: Sizes,
    readonly space: SearchSpace,
    readonly opts: TuneOptions,
    readonly measure: Measurer,
    readonly onProgress: (p: TuneProgress) => void,
    readonly signal: AbortSignal | undefined,
    readonly total: number,
  ) {
    this.start = opts.startedAt ?? performance.now();
    this.ranker = opts.model ? new ModelRanker(info, program, sizes, space, opts.model) : undefined;
  }

  get measured(): number {
    return this.candidates.length;
  }

  budgetLeft(): boolean {
    if (this.signal?.aborted) {
      this.stopped = 'interrupted';
      return false;
    }
    const { trials, seconds } = this.opts.budget;
    if (trials !== undefined && this.measured >= trials) {
      this.stopped = 'budget';
      return false;
    }
    if (seconds !== undefined && this.elapsed() + this.finalSeconds() >= this.deadline()!) {
      this.stopped = 'budget';
      return false;
    }
    return true;
  }

  elapsed(): number {
    return (performance.now() - this.start) / 1000;
  }

  /** Seconds from the start by which the search must be done, the caller's reserve kept back. */
  deadline(): number | undefined {
    const { seconds } = this.opts.budget;
    return seconds === undefined ? undefined : seconds - this.opts.reserveSeconds;
  }

  /** Seconds left before the deadline (Infinity without a time budget). */
  left(): number {
    const d = this.deadline();
    return d === undefined ? Infinity : d - this.elapsed();
  }

  /** The leaders to measure again: the fastest few, then the default, fastest first. */
  leaders(): Candidate[] {
    const leaders = fastestFirst(this.ok()).slice(0, this.opts.finalists);
    const dflt = this.candidates.find((c) => c.isDefault && c.status === 'ok');
    if (dflt && !leaders.includes(dflt)) leaders.push(dflt);
    return leaders;
  }

  /** What measuring the leaders again should take, with a fifth to spare. */
  finalSeconds(): number {
    return this.leaders().reduce((t, c) => t + this.remeasureSeconds(c), 0);
  }

  /**
   * What measuring a candidate again should take, with a fifth to spare: the correctness run, the
   * warm-up and the timed runs at its screened speed, and what a measurement has cost beyond its
   * runs so far (the median of those seen).
   */
  remeasureSeconds(c: Candidate): number {
    const runs = 1 + this.opts.finalWarmup + this.opts.finalRepeat;
    const o = [...this.overheads].sort((a, b) => a - b);
    const overheadMs = o.length ? o[Math.floor(o.length / 2)]! : 0;
    return (1.2 * ((c.screen?.medianMs ?? 0) * runs + overheadMs)) / 1000;
  }

  /** Measures a plan, noting what the measurement cost beyond the runs it timed. */
  async timed(plan: Plan, request: Parameters<Measurer>[1]): Promise<CandidateOutcome> {
    const t0 = performance.now();
    const o = checked(await this.measure(plan, request));
    if (o.status === 'ok' && o.measurement) {
      // the correctness run, then the warm-up and the timed runs
      const runs = 1 + request.warmup + o.measurement.samples.length;
      this.overheads.push(Math.max(0, performance.now() - t0 - o.measurement.medianMs * runs));
    }
    return o;
  }

  /**
   * Lowers the point's schedule (pruning invalid ones before any compile) and returns it with its
   * plan, unmeasured: the one lowering of the candidate, the plan going to the measurer as it is.
   */
  prepare(point: Point): Prepared | undefined {
    const id = point.join(',');
    if (this.seen.has(id)) return undefined;
    this.seen.add(id);
    const plan = this.ranker ? this.ranker.lowered(point)?.plan : lowerPoint(this.info, this.program, this.sizes, this.space, point);
    if (!plan) return undefined;
    const key = planKey(this.info, plan);
    if (this.byKey.has(key)) return undefined;
    const isDefault = canonicalJson(plan.schedule) === canonicalJson(this.space.defaults);
    const c: Candidate = { point, schedule: plan.schedule, key, status: 'ok', isDefault };
    this.byKey.set(key, c);
    return { c, plan };
  }

  planOf(c: Candidate): Plan | undefined {
    return this.plans.get(c);
  }

  /**
   * The time-out for a candidate given how long the default took (see TuneOptions), and never
   * more than the time budget has left (screening keeps back the time the leaders need) plus a
   * small margin. `limitedByBudget` tells a time-out the budget cut short from a slow candidate.
   */
  timeoutFor(warmup: number, repeat: number, phase: 'screen' | 'final'): { timeoutMs: number; limitedByBudget: boolean } {
    const base = this.candidates.find((c) => c.isDefault && c.screen)?.screen;
    const runMs = base ? base.medianMs * this.opts.slowdownLimit * (warmup + repeat + 1) : Infinity;
    const own = Math.min(this.opts.candidateTimeoutMs, this.opts.compileMs + runMs);
    if (this.deadline() === undefined) return { timeoutMs: own, limitedByBudget: false };
    const leftMs = (this.left() - (phase === 'screen' ? this.finalSeconds() : 0)) * 1000;
    const budgetMs = Math.max(0, leftMs) + BUDGET_MARGIN_MS;
    return budgetMs < own ? { timeoutMs: budgetMs, limitedByBudget: true } : { timeoutMs: own, limitedByBudget: false };
  }

  async screen({ c, plan }: Prepared): Promise<void> {
    // the correctness run before timing warms the candidate up; a candidate whose first timed
    // run is already far slower than the best so far stops there
    const best = this.best();
    const cutoffMs = best?.screen ? best.screen.medianMs * this.opts.cutoffFactor : undefined;
    const { timeoutMs, limitedByBudget } = this.timeoutFor(0, this.opts.screenRepeat, 'screen');
    const o = await this.timed(plan, { warmup: 0, repeat: this.opts.screenRepeat, timeoutMs, cutoffMs });
    c.status = o.status;
    if (o.measurement) c.screen = o.measurement;
    if (o.detail) c.detail = o.detail;
    if (o.status === 'timeout' && limitedByBudget) c.detail = `${o.detail ?? 'timed out'} (the time budget ran out)`;
    if (c.status === 'ok') {
      this.plans.set(c, plan);
      const samples = c.screen ? planSamples(plan, c.screen.kernelMs, c.screen.medianMs, this.info) : [];
      this.samples.push(...samples);
      this.ranker?.learn(samples);
    }
    this.candidates.push(c);
    this.onProgress({ phase: 'screen', measured: this.measured, total: this.total, best: this.best(), last: c });
  }

  ok(): Candidate[] {
    return this.candidates.filter((c) => c.status === 'ok');
  }

  /**
   * Points combining, group by group, the knobs of the measured candidate whose kernels of that
   * group ran fastest. A plan's groups run one after another, so their times add up and each
   * group's best knobs can be chosen apart from the others': a search over a plan of many kernels
   * (a chunked recurrence's ten) learns about every group from every measurement. Candidates are
   * combined only with those that agree on the knobs that change every group's kernels (a chunk
   * size), one point per such setting; none where per-kernel times are missing.
   */
  composites(): Point[] {
    const dims = this.space.dims;
    const perSetting = new Map<string, { c: Candidate; times: Map<string, number> }[]>();
    let whole: number[] | undefined;
    for (const c of this.ok()) {
      const plan = this.plans.get(c);
      const ms = c.screen?.kernelMs;
      if (!plan || !ms || ms.length !== plan.kernelGroups.length) continue;
      whole ??= dims.flatMap((d, i) => (plan.groups.find((g) => g.id === d.group)?.kind === 'chunk' ? [i] : []));
      const times = new Map<string, number>();
      plan.kernelGroups.forEach((g, k) => times.set(g, (times.get(g) ?? 0) + ms[k]!));
      const setting = whole.map((i) => c.point[i]).join(',');
      perSetting.set(setting, [...(perSetting.get(setting) ?? []), { c, times }]);
    }
    const out: Point[] = [];
    for (const measured of perSetting.values()) {
      if (measured.length < 2) continue;
      const point = [...measured[0]!.c.point];
      dims.forEach((d, i) => {
        if (whole?.includes(i)) return;
        const fastest = measured.reduce((a, b) => ((b.times.get(d.group) ?? Infinity) < (a.times.get(d.group) ?? Infinity) ? b : a));
        point[i] = fastest.c.point[i]!;
      });
      out.push(point);
    }
    return out;
  }

  best(): Candidate | undefined {
    return this.ok().reduce<Candidate | undefined>((b, c) => (!b || median(c) < median(b) ? c : b), undefined);
  }

  /** The winner so far: among the leaders measured again where any were, else among all screened. */
  winner(): Candidate | undefined {
    const finals = this.ok().filter((c) => c.final);
    return pickWinner(finals.length ? finals : this.ok(), this.opts.band);
  }

  /**
   * Measures a leader again from the plan it screened with (as it was lowered then), its samples
   * pooled with an earlier second measurement. `cut`: the time budget cut it short (its timings
   * so far stand, measuring ends); `error`: the measurer failed for good (`error` says why).
   */
  async remeasure(c: Candidate): Promise<'done' | 'cut' | 'error'> {
    const { finalWarmup: warmup, finalRepeat: repeat } = this.opts;
    const { timeoutMs, limitedByBudget } = this.timeoutFor(warmup, repeat, 'final');
    let o: CandidateOutcome;
    try {
      o = await this.timed(this.plans.get(c)!, { warmup, repeat, timeoutMs });
    } catch (e) {
      this.error = errorText(e);
      return 'error';
    }
    if (o.status === 'timeout' && limitedByBudget) {
      this.stopped = 'budget';
      return 'cut';
    }
    if (o.status === 'ok') c.final = c.final ? pooled(c.final, o.measurement!) : o.measurement!;
    else {
      c.status = o.status;
      if (o.detail) c.detail = o.detail;
    }
    return 'done';
  }
}

/** Two measurements of one candidate as one: their samples together, the per-kernel times of the later. */
function pooled(a: Measurement, b: Measurement): Measurement {
  const m = summarize([...a.samples, ...b.samples], a.clock === b.clock ? a.clock : 'wall');
  return b.kernelMs ? { ...m, kernelMs: b.kernelMs } : m;
}

/** Picks the winner among finalists deterministically: a tolerance band, then a stable rule. */
export function pickWinner(finalists: readonly Candidate[], band: number): Candidate | undefined {
  const ok = finalists.filter((c) => c.status === 'ok' && Number.isFinite(median(c)));
  if (ok.length === 0) return undefined;
  const fastest = Math.min(...ok.map(median));
  const tied = ok.filter((c) => median(c) <= fastest * (1 + band));
  const dflt = tied.find((c) => c.isDefault);
  if (dflt) return dflt;
  return [...tied].sort((a, b) => (canonicalJson(a.schedule) < canonicalJson(b.schedule) ? -1 : 1))[0];
}

/**
 * Searches a program's schedule space on a device. Every candidate is lowered and checked
 * against the device limits first (invalid ones never compile), measured once cheaply (the
 * measurer checks its result against the CPU reference before its time counts), and the leaders
 * are measured again with more repeats before the winner is picked; a winner or default whose
 * timing is still too noisy to compare is measured again while the budget allows.
 */
export async function tune(
  info: DeviceInfo,
  program: Program,
  sizes: Sizes,
  space: SearchSpace,
  measure: Measurer,
  options: Partial<TuneOptions> = {},
  hooks: { onProgress?: (p: TuneProgress) => void; signal?: AbortSignal } = {},
): Promise<TuneResult> {
  // a budget given replaces the default one: { trials: 100 } means no time limit
  const opts: TuneOptions = { ...DEFAULT_TUNE, ...options };
  const size = spaceSize(space);
  const { strategy, valid } = chooseStrategy(info, program, sizes, space, opts, measure);
  const total = strategy === 'exhaustive' && valid ? Math.min(valid.length, opts.budget.trials ?? Infinity) : (opts.budget.trials ?? 0);
  const search = new Search(info, program, sizes, space, opts, measure, hooks.onProgress ?? (() => undefined), hooks.signal, total);
  const dflt = search.prepare(defaultPoint(space));
  let error = await screening(search, strategy, dflt);
  if (error === undefined) error = await remeasureLeaders(search);
  if (error === undefined) error = await confirm(search);
  if (hooks.signal?.aborted) search.stopped = 'interrupted';
  if (error !== undefined) search.stopped = 'error';
  const best = search.winner();
  const speedup = best && dflt?.c.status === 'ok' ? speedupOf(best, dflt.c, opts.maxSpread) : undefined;
  return {
    best,
    default: dflt?.c,
    candidates: search.candidates,
    strategy,
    spaceSize: size,
    ...(valid ? { validCount: valid.length } : {}),
    band: opts.band,
    tieBreak: TIE_BREAK,
    stoppedBy: search.stopped ?? 'exhausted',
    ...(error !== undefined ? { error } : {}),
    seconds: search.elapsed(),
    samples: search.samples,
    ...(speedup ? { speedup } : {}),
  };
}

/** The strategy `auto` resolves to, and the valid distinct candidates where the space is small enough to count. */
function chooseStrategy(info: DeviceInfo, program: Program, sizes: Sizes, space: SearchSpace, opts: TuneOptions, measure: Measurer): { strategy: Exclude<StrategyName, 'auto'>; valid?: Candidate[] } {
  let strategy: Exclude<StrategyName, 'auto'> = opts.strategy === 'auto' ? 'guided' : opts.strategy;
  if (opts.strategy === 'guided' || spaceSize(space) > 20_000) return { strategy };
  // small enough to enumerate: count the valid, distinct candidates
  const probe = new Search(info, program, sizes, space, opts, measure, () => undefined, undefined, 0);
  const valid: Candidate[] = [];
  for (const p of allPoints(space)) {
    const c = probe.prepare(p);
    if (c) valid.push(c.c);
  }
  if (opts.strategy === 'auto') strategy = valid.length <= (opts.budget.trials ?? Infinity) ? 'exhaustive' : 'guided';
  return { strategy, valid };
}

/**
 * Measures every candidate once: the default first, whatever the budget (the baseline every
 * result is compared with), then the seeds, then the search. A measurer that fails for good (its
 * worker cannot restart) or a candidate that cannot be lowered for an unexpected reason ends the
 * search, never the run: what was measured stands, and the error is returned.
 */
async function screening(search: Search, strategy: Exclude<StrategyName, 'auto'>, dflt: Prepared | undefined): Promise<string | undefined> {
  const { opts, space } = search;
  try {
    if (dflt && !search.signal?.aborted) await search.screen(dflt);
    for (const seed of [...opts.seeds, ...deviceSeeds(search.info, space)]) {
      if (!search.budgetLeft()) break;
      const c = search.prepare(pointOf(space, seed));
      if (c) await search.screen(c);
    }
    if (strategy === 'guided') return void (await guided(search));
    for (const p of allPoints(space)) {
      if (!search.budgetLeft()) break;
      const c = search.prepare(p);
      if (c) await search.screen(c);
    }
    search.stopped ??= 'exhausted';
  } catch (e) {
    return errorText(e);
  }
  return undefined;
}

/**
 * Measures the leaders again, longer: the fastest first, then the default (so the two a speed-up
 * compares are confirmed before the others), then the rest. Under a time budget, a leader is
 * measured again only where its estimate fits in the time left; one cut short by the budget keeps
 * its screening. A leader that fails its second measurement is out.
 */
async function remeasureLeaders(search: Search): Promise<string | undefined> {
  const ranked = search.leaders();
  const dflt = ranked.find((c) => c.isDefault);
  const leaders = [...new Set([...ranked.slice(0, 1), ...(dflt ? [dflt] : []), ...ranked])];
  let done = 0;
  for (const c of leaders) {
    if (search.signal?.aborted) break;
    if (search.remeasureSeconds(c) > search.left()) continue;
    const o = await search.remeasure(c);
    if (o === 'error' || o === 'cut') return o === 'error' ? search.error : undefined;
    search.onProgress({ phase: 'final', measured: ++done, total: leaders.length, best: search.winner(), last: c });
  }
  return undefined;
}

/**
 * Measures the winner and the default again while either's spread is wider than `maxSpread` (up
 * to `confirmRounds` more times each, while the budget allows), their samples pooled: a speed-up
 * is only as good as the noisier of the two timings it divides.
 */
async function confirm(search: Search): Promise<string | undefined> {
  const { opts } = search;
  const tries = new Map<Candidate, number>();
  for (;;) {
    const best = search.winner();
    const dflt = search.candidates.find((c) => c.isDefault && c.status === 'ok');
    const noisy = [...new Set([best, dflt])].filter(
      (c): c is Candidate => c !== undefined && !!c.final && c.final.spread > opts.maxSpread && (tries.get(c) ?? 0) < opts.confirmRounds && search.remeasureSeconds(c) <= search.left(),
    );
    if (noisy.length === 0 || search.signal?.aborted) return undefined;
    for (const c of noisy) {
      tries.set(c, (tries.get(c) ?? 0) + 1);
      const o = await search.remeasure(c);
      if (o === 'error' || o === 'cut') return o === 'error' ? search.error : undefined;
    }
  }
}

/** The winner against the default: a ratio, and whether the timings it rests on can bear it. */
export function speedupOf(best: Candidate, dflt: Candidate, maxSpread: number): Speedup {
  const summary = (c: Candidate): TimingSummary => ({ medianMs: median(c), spread: spreadOf(c), confirmed: !!c.final });
  const b = summary(best);
  const d = summary(dflt);
  const pct = (x: number) => `±${(x * 100).toFixed(0)}%`;
  const unconfirmed = [!b.confirmed && 'the winner', !d.confirmed && 'the default'].filter(Boolean);
  const noisy = [b.spread > maxSpread && `the winner ${pct(b.spread)}`, d.spread > maxSpread && `the default ${pct(d.spread)}`].filter(Boolean);
  const reason = unconfirmed.length
    ? `${unconfirmed.join(' and ')} measured by screening only`
    : noisy.length
      ? `spread wider than ${pct(maxSpread)} after measuring again: ${noisy.join(', ')}`
      : undefined;
  return { ratio: d.medianMs / b.medianMs, reliable: reason === undefined, ...(reason ? { reason } : {}), best: b, default: d };
}

const errorText = (e: unknown) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));

/**
 * Guided search: an evolutionary loop. The first population is half steps away from the best
 * schedules known (the default, seeds) and half random points; each generation breeds children
 * of the fastest few by crossover and by moving one or two knobs a step, and tries each group's
 * fastest knobs so far together (`composites`); it stops on budget, or when several generations
 * bring nothing new.
 */
async function guided(s: Search): Promise<void> {
  const random = rng(s.opts.seed);
  const dims = s.space.dims;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const randomPoint = (): Point => dims.map((d) => Math.floor(random() * d.values.length));
  const population = 8;
  const parents = 4;
  let attempts = 0;
  const tryPoint = async (p: Point): Promise<boolean> => {
    attempts++;
    const c = s.prepare(p);
    if (!c) return false;
    await s.screen(c);
    return true;
  };
  // with a model, each measurement goes to the fastest predicted of a pool of proposals (the
  // first, in predicted order, that is not a point or the code of one measured already)
  const tryDrawn = async (draw: () => Point): Promise<boolean> => {
    if (!s.ranker) return tryPoint(draw());
    for (const p of s.ranker.rank(Array.from({ length: RANK_POOL }, draw))) if (await tryPoint(p)) return true;
    return false;
  };
  const step = (from: Point): Point => {
    const p = [...from];
    const moves = random() < 0.6 ? 1 : 2;
    for (let m = 0; m < moves; m++) {
      const i = Math.floor(random() * dims.length);
      const n = dims[i]!.values.length;
      if (n < 2) continue;
      // numeric knobs move a step; categorical ones jump anywhere
      const numeric = typeof dims[i]!.values[0] === 'number';
      p[i] = numeric ? Math.max(0, Math.min(n - 1, p[i]! + (random() < 0.5 ? -1 : 1))) : Math.floor(random() * n);
    }
    return p;
  };
  // each group's fastest knobs so far, together (prepare skips points already tried)
  const combine = async () => {
    for (const p of s.composites()) if (s.budgetLeft()) await tryPoint(p);
  };
  for (let i = 0; i < population * 50 && s.measured < population && s.budgetLeft(); i++) {
    const known = s.best();
    await tryDrawn(() => (known && i % 2 === 0 ? step(known.point) : randomPoint()));
  }
  await combine();
  let stale = 0;
  while (s.budgetLeft()) {
    const top = s
      .ok()
      .sort((a, b) => median(a) - median(b))
      .slice(0, parents);
    if (top.length === 0) {
      if (!(await tryPoint(randomPoint())) && attempts > 5000) break;
      continue;
    }
    const before = s.best();
    let produced = 0;
    for (let child = 0; child < population && s.budgetLeft(); child++) {
      const breed = (): Point => {
        const a = pick(top).point;
        if (top.length > 1 && random() < 0.3) {
          const b = pick(top).point;
          return a.map((v, i) => (random() < 0.5 ? v : b[i]!));
        }
        return step(a);
      };
      if (await tryDrawn(breed)) produced++;
    }
    await combine();
    const after = s.best();
    stale = produced === 0 || after === before ? stale + 1 : 0;
    if (stale >= 6) {
      // escape: a few random points before giving up
      for (let i = 0; i < 3 && s.budgetLeft(); i++) await tryDrawn(randomPoint);
      if (stale >= 12 || attempts > 20_000) {
        s.stopped = 'converged';
        break;
      }
    }
  }
}
