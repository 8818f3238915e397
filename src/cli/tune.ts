import cliProgress from 'cli-progress';
import Table from 'cli-table3';
import { fancyOutput, tableStyle } from './style.js';
import { deviceSummary } from '../autotune/fingerprint.js';
import type { DeviceInfo } from '../runtime/device.js';
import { toWgsl } from '../codegen-wgsl/index.js';
import { planFor } from '../runtime/target.js';
import { MeasuringWorker } from '../autotune/pool.js';
import { type KnobValue, type Restrictions, checkRestrictions } from '../autotune/knobs.js';
import { type SearchSpace, searchSpace, spaceSize } from '../autotune/space.js';
import { tuningKeyFor } from '../autotune/lookup.js';
import { seedsFromDatabase } from '../autotune/seeds.js';
import { deviceCostModel, recordSamples } from '../autotune/device-model.js';
import { type CostModel, describeModel } from '../autotune/cost-model.js';
import { BUDGET_MARGIN_MS, type Candidate, DEFAULT_TUNE, type StrategyName, type TuneProgress, type TuneResult, tune } from '../autotune/tuner.js';
import type { NewTuningEntry, TuningKey } from '../autotune/db.js';
import { serializeProgram } from '../ir/serialize.js';
import { describeSchedule, type ResolvedSchedule } from '../passes/schedule.js';
import { TuningDatabaseError } from '../autotune/db.js';
import { openDatabase } from './database.js';
import { EXIT } from './exit-codes.js';
import type { DeviceKind } from './open-device.js';
import { type ProgramSource, resolveProgram } from './program-source.js';
import { UsageError } from './sizes.js';

export interface TuneCommandOptions {
  readonly dtype?: string;
  readonly shape: readonly string[];
  readonly device: DeviceKind;
  readonly budget: string;
  readonly strategy: string;
  readonly knob: readonly string[];
  readonly seed: number;
  readonly repeat: number;
  readonly db?: string;
  readonly save: boolean;
  /** Rank candidates by the device's cost model before measuring them (`--no-model`: as drawn). */
  readonly model?: boolean;
  readonly json: boolean;
}

/**
 * `--budget 60s`, `--budget 5m`, `--budget 100` (candidates) or both: `--budget 100,60s`. A budget
 * of nothing (0, 0s) is a usage error: it could measure nothing worth saving.
 */
export function parseBudget(spec: string): { trials?: number; seconds?: number } {
  const out: { trials?: number; seconds?: number } = {};
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(part);
    if (!m) throw new UsageError(`budget ${JSON.stringify(part)} should be seconds (60s, 5m) or a number of candidates (100)`);
    const v = Number(m[1]);
    if (m[2]) out.seconds = v * (m[2] === 'm' ? 60 : m[2] === 'h' ? 3600 : 1);
    else out.trials = Math.floor(v);
    if ((m[2] ? out.seconds : out.trials) === 0) throw new UsageError(`budget ${JSON.stringify(part)} would measure nothing: give at least 1 candidate or some seconds (default 64,120s)`);
  }
  return out;
}

/**
 * `--knob blockK=8,16 --knob staging=direct`: restrict knobs to these values. Names and values are
 * checked here, before a device is opened (KnobError); whether the program has such a group is
 * checked by the search space.
 */
export function parseKnobs(specs: readonly string[]): Restrictions {
  const out: Record<string, KnobValue[]> = {};
  for (const spec of specs) {
    const m = /^([A-Za-z]+)=(.+)$/.exec(spec);
    if (!m) throw new UsageError(`knob ${JSON.stringify(spec)} should look like blockK=8,16`);
    out[m[1]!] = m[2]!.split(',').map((v) => (v === 'true' ? true : v === 'false' ? false : /^\d+$/.test(v) ? Number(v) : v));
  }
  checkRestrictions(out);
  return out;
}

function parseStrategy(s: string): StrategyName {
  if (s === 'auto' || s === 'exhaustive' || s === 'guided') return s;
  throw new UsageError(`strategy ${JSON.stringify(s)}: use auto, exhaustive or guided`);
}

const ms = (c: Candidate | undefined) => c?.final?.medianMs ?? c?.screen?.medianMs;
const spreadOf = (c: Candidate | undefined) => (c?.final ?? c?.screen)?.spread;
const pct = (x: number | undefined) => `±${((x ?? 0) * 100).toFixed(1)}%`;

/**
 * Seconds of `--budget` kept back for what follows the search (saving, printing, closing the
 * worker): the last candidate may run up to BUDGET_MARGIN_MS past the search's own deadline.
 */
const RESERVE_SECONDS = BUDGET_MARGIN_MS / 1000 + 0.5;

/** `autotune tune`: search a program's schedules on a device, record the winner. */
export async function tuneCommand(spec: string, o: TuneCommandOptions): Promise<number> {
  const src = await resolveProgram(spec, o.dtype, o.shape);
  const budget = parseBudget(o.budget);
  const strategy = parseStrategy(o.strategy);
  const restrict = parseKnobs(o.knob);
  const db = o.save ? await openDatabase(o.db, { forWriting: true }) : undefined;
  const worker = new MeasuringWorker({
    backend: o.device,
    program: serializeProgram(src.program),
    sizes: src.sizes,
    seed: o.seed,
    candidateTimeoutMs: 120_000,
    startTimeoutMs: 300_000,
  });
  const abort = new AbortController();
  const onSigint = () => {
    if (!abort.signal.aborted) {
      abort.abort();
      if (!o.json) console.error('\nautotune: interrupted; finishing with what was measured (Ctrl-C again to quit now)');
    } else process.exit(EXIT.interrupted);
  };
  process.on('SIGINT', onSigint);
  const progress = new Progress(o.json);
  try {
    // the time budget counts from the process's start: starting the worker (opening the device,
    // computing the reference) is part of the run
    const info = await worker.start();
    const space = searchSpace(info, src.program, src.sizes, restrict);
    const key = tuningKeyFor(info, src.program, src.sizes);
    const seeds = db ? await seedsFromDatabase(db, key) : [];
    const model = o.model !== false ? deviceCostModel(info, db?.path ?? o.db) : undefined;
    if (!o.json) printHeader(src, info, space, seeds.length, model);
    progress.start(budget.trials);
    const result = await tune(
      info,
      src.program,
      src.sizes,
      space,
      (plan, request) => worker.measure(plan, request),
      { strategy, budget, seed: o.seed, finalRepeat: o.repeat, seeds, startedAt: 0, reserveSeconds: RESERVE_SECONDS, model },
      { signal: abort.signal, onProgress: (p) => progress.update(p) },
    );
    progress.stop();
    // whatever stopped the run (budget, Ctrl-C, a worker that could not restart), the best of
    // what was measured is recorded
    const notSaved = result.best && db ? await saveBest(() => db.record(entryFor(result, key, src, info, o.seed))) : undefined;
    const savedTo = notSaved === undefined ? db?.path : undefined;
    if (db) keepSamples(info, result, db.path, o.json);
    if (o.json) jsonReport(src, result, savedTo, info, notSaved);
    else textReport(src, result, savedTo, notSaved);
    if (!result.best || result.stoppedBy === 'error' || notSaved !== undefined) return EXIT.failure;
    return result.stoppedBy === 'interrupted' ? EXIT.interrupted : EXIT.ok;
  } finally {
    progress.stop();
    process.off('SIGINT', onSigint);
    worker.close();
  }
}

/**
 * Adds the kernels a run measured to what the device's cost model is fitted to. They only refine
 * a model, so a failure to write them is a warning, never the run's failure.
 */
function keepSamples(info: DeviceInfo, result: TuneResult, dbPath: string, json: boolean): void {
  try {
    recordSamples(info, result.samples, dbPath);
  } catch (e) {
    if (!json) console.error(`autotune: the measured kernels were not kept for the cost model: ${(e as Error).message}`);
  }
}

/**
 * Records the best of a run. Where the database cannot take it (its lock held past the time-out
 * by a process on another machine, a disk error), nothing measured is lost: the reason is
 * returned for the report, which still shows the winner and its schedule to replay.
 */
export async function saveBest(record: () => Promise<void>): Promise<string | undefined> {
  try {
    await record();
    return undefined;
  } catch (e) {
    if (e instanceof TuningDatabaseError || (e instanceof Error && typeof (e as { code?: unknown }).code === 'string')) return e.message;
    throw e;
  }
}

function printHeader(src: ProgramSource, info: DeviceInfo, space: SearchSpace, seeds: number, model: CostModel | undefined): void {
  console.log(`tuning ${src.name} (${src.dtype}) ${Object.entries(src.sizes).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  console.log(`device ${deviceSummary(info)}`);
  console.log(`space  ${spaceSize(space)} points over ${space.dims.map((d) => `${d.group}.${d.knob}(${d.values.length})`).join(' ') || 'nothing to tune'}`);
  if (seeds) console.log(`seeds  ${seeds} schedules recorded for this program at other sizes`);
  if (model) console.log(`model  candidates ranked by a cost model on ${describeModel(model)}`);
}

/** The search's progress on stderr: a bar on a terminal; piped, redirected or NO_COLOR, a plain line now and then. */
class Progress {
  private bar: cliProgress.SingleBar | undefined;
  private lastLine = -Infinity;
  private lastPhase = '';
  private dflt = '-';

  constructor(private readonly quiet: boolean) {}

  start(trials: number | undefined): void {
    if (this.quiet || !fancyOutput(process.stderr)) return;
    this.bar = new cliProgress.SingleBar(
      { format: '{phase} [{bar}] {value}/{total} | best {best} | default {dflt} | {duration_formatted}', hideCursor: true, etaBuffer: 20 },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(trials ?? 1, 0, { phase: 'screen', best: '-', dflt: '-' });
  }

  update(p: TuneProgress): void {
    if (p.last?.isDefault) this.dflt = ms(p.last) !== undefined ? `${ms(p.last)!.toFixed(3)} ms` : p.last.status;
    const phase = p.phase === 'screen' ? 'search' : 'verify';
    const best = p.best ? `${ms(p.best)!.toFixed(3)} ms` : '-';
    if (this.bar) {
      this.bar.setTotal(Math.max(p.total, 1));
      this.bar.update(p.measured, { phase, best, dflt: this.dflt });
    } else if (!this.quiet && (performance.now() - this.lastLine > 5000 || phase !== this.lastPhase)) {
      this.lastLine = performance.now();
      this.lastPhase = phase;
      console.error(`${phase} ${p.measured}/${Math.max(p.total, 1)} | best ${best} | default ${this.dflt}`);
    }
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}

/** The database entry for a run's winner: `measuredBy` says whether it was measured again or rests on screening. */
export function entryFor(r: TuneResult, key: TuningKey, src: Pick<ProgramSource, 'name' | 'sizes'>, info: DeviceInfo, seed: number): NewTuningEntry {
  const best = r.best!;
  const runnersUp = r.candidates
    .filter((c) => c !== best && c.status === 'ok')
    .sort((a, b) => ms(a)! - ms(b)!)
    .slice(0, 5)
    .map((c) => ({ schedule: c.schedule, medianMs: ms(c)! }));
  return {
    ...key,
    deviceSummary: deviceSummary(info),
    program: src.name,
    sizes: src.sizes,
    schedule: best.schedule,
    medianMs: ms(best)!,
    spread: spreadOf(best)!,
    measuredBy: best.final ? 'final' : 'screen',
    candidates: r.candidates.filter((c) => c.status === 'ok').length,
    strategy: `${r.strategy}(seed=${seed})`,
    tieBreak: r.tieBreak,
    toleranceBand: r.band,
    runnersUp,
  };
}

const timing = (c: Candidate | undefined) => (c ? { medianMs: ms(c) ?? null, spread: spreadOf(c) ?? null, measuredBy: c.final ? 'final' : 'screen' } : {});

function jsonReport(src: ProgramSource, r: TuneResult, dbPath: string | undefined, info: DeviceInfo, notSaved?: string): void {
  const counts: Record<string, number> = {};
  for (const c of r.candidates) counts[c.status] = (counts[c.status] ?? 0) + 1;
  const ranked = r.candidates.filter((c) => c.status === 'ok').sort((a, b) => ms(a)! - ms(b)!);
  const out = {
    program: src.name,
    dtype: src.dtype,
    sizes: src.sizes,
    device: { backend: info.backend, name: info.name, vendor: info.vendor, architecture: info.architecture, summary: deviceSummary(info) },
    strategy: r.strategy,
    stoppedBy: r.stoppedBy,
    error: r.error ?? null,
    seconds: r.seconds,
    spaceSize: r.spaceSize,
    validCount: r.validCount ?? null,
    measured: r.candidates.length,
    statuses: counts,
    band: r.band,
    tieBreak: r.tieBreak,
    best: r.best ? { schedule: r.best.schedule, ...timing(r.best) } : null,
    default: r.default ? { schedule: r.default.schedule, ...timing(r.default) } : null,
    // a ratio only where it can be trusted; `speedup` says why not otherwise
    speedupOverDefault: r.speedup?.reliable ? r.speedup.ratio : null,
    speedup: r.speedup ?? null,
    bestKernels: r.best ? kernelSources(src, r.best.schedule, info) : [],
    candidates: ranked.map((c) => ({ order: r.candidates.indexOf(c), schedule: c.schedule, medianMs: ms(c), spread: spreadOf(c), remeasured: !!c.final })),
    failures: r.candidates.filter((c) => c.status !== 'ok').map((c) => ({ status: c.status, detail: c.detail, schedule: c.schedule })),
    database: dbPath ?? null,
    notSaved: notSaved ?? null,
  };
  console.log(JSON.stringify(out, null, 2));
}

export function textReport(src: ProgramSource, r: TuneResult, dbPath: string | undefined, notSaved?: string): void {
  const flops = src.flops?.(src.sizes);
  const best = ms(r.best);
  const dflt = ms(r.default);
  // ratios against a default that was not measured again, or stays noisy, are marked
  const shaky = !r.default?.final || r.default.final.spread > DEFAULT_TUNE.maxSpread ? '?' : '';
  const counts: Record<string, number> = {};
  for (const c of r.candidates) counts[c.status] = (counts[c.status] ?? 0) + 1;
  const t = new Table({ head: ['#', 'configuration', 'median', 'spread', ...(flops ? ['GFLOP/s'] : []), 'vs default', 'vs best'], ...tableStyle() });
  const ranked = r.candidates.filter((c) => c.status === 'ok').sort((a, b) => ms(a)! - ms(b)!);
  ranked.slice(0, 12).forEach((c, i) => {
    const m = ms(c)!;
    t.push([
      String(i + 1) + (c === r.best ? ' *' : ''),
      describeSchedule(c.schedule) + (c.isDefault ? ' (default)' : ''),
      `${m.toFixed(3)} ms${c.final ? '' : ' ~'}`,
      pct(spreadOf(c)),
      ...(flops ? [(flops / (m * 1e-3) / 1e9).toFixed(2)] : []),
      dflt ? `${(dflt / m).toFixed(2)}x${shaky}` : '-',
      best ? `${(best / m).toFixed(2)}x` : '-',
    ]);
  });
  console.log(t.toString());
  console.log(
    `${r.candidates.length} candidates measured (${Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(', ')}) in ${r.seconds.toFixed(1)} s by ${r.strategy} search, stopped by ${r.stoppedBy}` +
      (r.validCount !== undefined ? `; ${r.validCount} valid distinct candidates in the space` : ''),
  );
  const failures = failureSummary(r.candidates);
  if (failures.length) console.log(`not counted: ${failures.join('; ')}`);
  if (r.error) console.log(`measuring stopped early: ${r.error}`);
  console.log('~ = first (cheap) measurement only; * = winner: ' + r.tieBreak + ` (band ${(r.band * 100).toFixed(0)}%)` + (shaky && dflt ? `; ? = against a default ${r.default?.final ? 'whose spread stays wide' : 'measured once only'}` : ''));
  if (!r.best) return console.log('no candidate ran correctly; nothing saved');
  console.log(winnerLine(r));
  if (dbPath) console.log(`saved to ${dbPath}${r.best.final ? '' : ' (as measured by screening only, not confirmed)'}`);
  if (notSaved) console.log(`not saved: ${notSaved}\nits schedule, for autotune run --schedule: ${JSON.stringify(r.best.schedule)}`);
}

/** The winner, and its speed-up over the default only where the timings bear it. */
export function winnerLine(r: Pick<TuneResult, 'best' | 'speedup'>): string {
  const head = `winner ${describeSchedule(r.best!.schedule)}: ${ms(r.best)!.toFixed(3)} ms ${pct(spreadOf(r.best))}${r.best!.final ? '' : ' (first measurement only, not confirmed)'}`;
  const s = r.speedup;
  if (!s) return head;
  if (s.reliable) return `${head}, ${s.ratio.toFixed(2)}x the default schedule (${s.default.medianMs.toFixed(3)} ms ${pct(s.default.spread)})`;
  return `${head}; the default measured ${s.default.medianMs.toFixed(3)} ms ${pct(s.default.spread)}: no reliable speed-up (${s.reason})`;
}

/**
 * The candidates that did not count, by kind of failure, most common first: `3 invalid:
 * DeviceLimitError`, `2 timeout: no result within N ms; worker restarted`. A kind is the status
 * and the detail up to its first ": " with numbers as N (a mismatch's detail names values, so it
 * is one kind).
 */
export function failureSummary(candidates: readonly Pick<Candidate, 'status' | 'detail'>[]): string[] {
  const kinds = new Map<string, number>();
  for (const c of candidates) {
    if (c.status === 'ok') continue;
    let why = c.status === 'mismatch' ? 'result disagrees with the reference' : (c.detail ?? '').split(': ')[0]!.replace(/\d+(\.\d+)?/g, 'N').trim();
    if (why.length > 80) why = `${why.slice(0, 77)}...`;
    const kind = why ? `${c.status}: ${why}` : c.status;
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  return [...kinds]
    .map(([kind, n]) => ({ n, line: `${n} ${kind}` }))
    .sort((a, b) => b.n - a.n || (a.line < b.line ? -1 : 1))
    .map((x) => x.line);
}

/** The kernels a schedule gives on this device, as WGSL (for `autotune report`); none where they do not print. */
function kernelSources(src: ProgramSource, schedule: ResolvedSchedule, info: DeviceInfo): { name: string; source: string }[] {
  if (info.backend !== 'webgpu') return [];
  try {
    const plan = planFor(info, src.program, src.sizes, { schedule });
    const shaderF16 = info.features.includes('shader-f16');
    return plan.kernels.map((k) => ({ name: k.name, source: toWgsl(k, { shaderF16 }).source }));
  } catch {
    return [];
  }
}
