import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { matmul } from '../examples/matmul.js';
import { deviceFingerprint } from '../src/autotune/fingerprint.js';
import type { Sizes } from '../src/ir/bind.js';
import { canonicalJson } from '../src/ir/hash.js';
import type { Program } from '../src/ir/tensor.js';
import { recordedCeilings } from '../src/autotune/device-model.js';
import { priorModel } from '../src/autotune/cost-model.js';
import { MeasuringWorker } from '../src/autotune/pool.js';
import type { CandidateOutcome } from '../src/autotune/protocol.js';
import { type Restrictions, type SearchSpace, searchSpace, spaceSize } from '../src/autotune/space.js';
import { type Candidate, type Measurer, type TuneResult, tune } from '../src/autotune/tuner.js';
import { randomHost } from '../src/ir/host.js';
import { serializeProgram } from '../src/ir/serialize.js';
import { describeSchedule } from '../src/passes/schedule.js';
import type { DeviceInfo } from '../src/runtime/device.js';
import { Executable } from '../src/runtime/executable.js';
import { planKey } from '../src/runtime/target.js';
import type { WebGpuDevice } from '../src/runtime/webgpu.js';
import { type Contender, fmtMs, interleaved, printTable } from './common.js';

export interface StrategyBenchOptions {
  readonly size: number;
  readonly seeds: readonly number[];
  readonly rounds: number;
  readonly db?: string | undefined;
  /**
   * A file of the exhaustive search's measurements: read where it exists (for this device, size
   * and space), else written after measuring, so that the strategies can be compared again
   * without measuring every candidate again.
   */
  readonly replay?: string | undefined;
}

/** A GEMM space of a few hundred valid candidates: small enough to search exhaustively. */
export const STRATEGY_SPACE: Restrictions = {
  blockM: [16, 32, 64],
  blockN: [16, 32, 64],
  blockK: [8, 16],
  threadM: [1, 2, 4],
  threadN: [2, 4, 8],
  staging: ['shared', 'direct'],
  doubleBuffer: [false],
  unrollK: [true],
  splitK: [1],
  vectorWidth: [4],
  vectorK: [1],
  shuffleA: [false],
};

/** How close to the optimum a search must come for the measurements it took to count. */
const WITHIN = [0.05, 0.1];

/**
 * The guided search with and without the cost model, against the exhaustive optimum on the same
 * space. Every candidate is measured once, by the exhaustive search; the guided searches replay
 * those measurements (a candidate's time is what the exhaustive run measured for the same code),
 * so the strategies are compared on identical timings and the machine's noise cannot favour one.
 * For each seed: how many measurements each took to come within 5% and 10% of the optimum. The
 * winners are then timed again side by side.
 */
export async function benchStrategies(device: WebGpuDevice, o: StrategyBenchOptions, log: (s: string) => void) {
  const program = matmul.build('f32');
  const sizes = { M: o.size, N: o.size, K: o.size };
  const info = device.info;
  const space = searchSpace(info, program, sizes, STRATEGY_SPACE);
  log(`  space: ${spaceSize(space)} points`);
  const exhaustive = readReplay(o.replay, info, o.size) ?? (await measureAll(program, sizes, space, log));
  if (o.replay && !existsSync(o.replay)) writeFileSync(o.replay, JSON.stringify({ device: deviceFingerprint(info), size: o.size, space: STRATEGY_SPACE, result: { ...exhaustive, samples: [] } }));
  const valid = exhaustive.validCount ?? exhaustive.candidates.length;
  log(`  exhaustive: ${exhaustive.candidates.length} candidates (${valid} valid) in ${exhaustive.seconds.toFixed(0)} s`);
  const replay = replayMeasurer(info, exhaustive.candidates);
  const optimum = Math.min(...exhaustive.candidates.filter((c) => c.status === 'ok' && c.screen).map(replayedMs));
  const model = priorModel(recordedCeilings(info, o.db));
  const budget = Math.floor(valid / 4);
  const runs: { label: string; seed: number; model: boolean; result: TuneResult; reach: (number | undefined)[] }[] = [];
  for (const seed of o.seeds) {
    for (const withModel of [false, true]) {
      const result = await tune(info, program, sizes, space, replay, { strategy: 'guided', budget: { trials: budget }, seed, ...(withModel ? { model } : {}) });
      const reach = WITHIN.map((w) => measurementsToReach(result.candidates, optimum * (1 + w)));
      runs.push({ label: `guided${withModel ? ' + model' : ''} seed ${seed}`, seed, model: withModel, result, reach });
    }
  }
  const summary = summarize(runs, budget);
  printTable(
    ['search', 'measured', 'to within 5% of the optimum', 'to within 10%', 'best found vs optimum', 'winner'],
    runs.map((r) => [
      r.label,
      String(r.result.candidates.length),
      fmtReach(r.reach[0]),
      fmtReach(r.reach[1]),
      `+${((bestScreened(r.result) / optimum - 1) * 100).toFixed(1)}%`,
      r.result.best ? describeSchedule(r.result.best.schedule) : 'none',
    ]),
  );
  printTable(
    ['', 'without the model', 'with the model', 'ratio'],
    WITHIN.map((w, i) => [`median measurements to within ${w * 100}% (never reached counts as the budget, ${budget})`, String(summary.without[i]), String(summary.with[i]), `${(summary.with[i]! / summary.without[i]!).toFixed(2)}`]),
  );
  const sideBySide = await winnersSideBySide(device, program, sizes, [
    { label: 'exhaustive', result: exhaustive },
    ...runs.filter((r) => r.seed === o.seeds[0]),
  ], o);
  return { space: spaceSize(space), valid, optimumMs: optimum, budget, summary, sideBySide, runs: runs.map((r) => ({ label: r.label, measured: r.result.candidates.length, reach: r.reach, bestMs: bestScreened(r.result) })) };
}

/** Every candidate of the space, measured once (each checked against the reference first). */
async function measureAll(program: Program, sizes: Sizes, space: SearchSpace, log: (s: string) => void): Promise<TuneResult> {
  const worker = new MeasuringWorker({ backend: 'webgpu', program: serializeProgram(program), sizes, seed: 1, candidateTimeoutMs: 120_000, startTimeoutMs: 300_000 });
  try {
    const info = await worker.start();
    return await tune(info, program, sizes, space, (s, request) => worker.measure(s, request), { strategy: 'exhaustive', budget: { trials: 100_000 } }, {
      onProgress: (p) => p.measured % 25 === 0 && log(`  exhaustive ${p.phase} ${p.measured}/${p.total}`),
    });
  } finally {
    worker.close();
  }
}

/** An exhaustive run recorded for this device, size and space, where the file has one. */
function readReplay(path: string | undefined, info: DeviceInfo, size: number): TuneResult | undefined {
  if (!path || !existsSync(path)) return undefined;
  const r = JSON.parse(readFileSync(path, 'utf8')) as { device: string; size: number; space: Restrictions; result: TuneResult };
  if (r.device !== deviceFingerprint(info) || r.size !== size || canonicalJson(r.space) !== canonicalJson(STRATEGY_SPACE)) {
    throw new Error(`${path} holds an exhaustive run of another device, size or space; remove it to measure again`);
  }
  return r.result;
}

/**
 * A measurer answering with what the exhaustive run measured for the same code: the leaders'
 * second, longer measurement where they had one (a lucky first measurement of 3 runs is no
 * optimum to chase), else the first.
 */
function replayMeasurer(info: DeviceInfo, measured: readonly Candidate[]): Measurer {
  const byKey = new Map(measured.map((c) => [c.key, c]));
  return async (plan): Promise<CandidateOutcome> => {
    const c = byKey.get(planKey(info, plan));
    if (!c) return { status: 'error', detail: 'not measured by the exhaustive run' };
    const m = c.final ?? c.screen;
    return c.status === 'ok' && m ? { status: 'ok', measurement: m } : { status: c.status, ...(c.detail ? { detail: c.detail } : {}) };
  };
}

/** A candidate's time as the replay gives it. */
const replayedMs = (c: Candidate) => (c.final ?? c.screen)!.medianMs;

/** Measurements (in order) until one came within `limitMs`; undefined when none did. */
function measurementsToReach(candidates: readonly Candidate[], limitMs: number): number | undefined {
  const i = candidates.findIndex((c) => c.status === 'ok' && c.screen !== undefined && c.screen.medianMs <= limitMs);
  return i < 0 ? undefined : i + 1;
}

const bestScreened = (r: TuneResult) => Math.min(...r.candidates.filter((c) => c.status === 'ok' && c.screen).map((c) => c.screen!.medianMs));
const fmtReach = (n: number | undefined) => (n === undefined ? 'not reached' : String(n));

/** Per threshold, the median over seeds of the measurements it took, with and without the model. */
function summarize(runs: readonly { model: boolean; reach: readonly (number | undefined)[] }[], budget: number) {
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  const per = (model: boolean) => WITHIN.map((_, i) => median(runs.filter((r) => r.model === model).map((r) => r.reach[i] ?? budget)));
  return { without: per(false), with: per(true) };
}

/** The winners of the exhaustive run and of the first seed's searches, timed again side by side. */
async function winnersSideBySide(device: WebGpuDevice, program: ReturnType<typeof matmul.build>, sizes: Record<string, number>, runs: readonly { label: string; result: TuneResult }[], o: StrategyBenchOptions) {
  const contenders: Contender[] = [];
  const exes: Executable[] = [];
  for (const { label, result } of runs) {
    if (!result.best) continue;
    const exe = await Executable.create(device, program, sizes, { schedule: result.best.schedule });
    exe.upload('A', randomHost('f32', [o.size, o.size], 1));
    exe.upload('B', randomHost('f32', [o.size, o.size], 2));
    exes.push(exe);
    contenders.push({ name: label, run: async () => (await exe.dispatch({}, { timing: true })).kernelMs!.reduce((a, b) => a + b, 0) });
  }
  const m = await interleaved(contenders, o.rounds);
  exes.forEach((e) => e.destroy());
  const optimum = m.get('exhaustive')!.medianMs;
  printTable(
    ['winner of', 'ms, side by side', 'vs the exhaustive winner'],
    contenders.map((c) => [c.name, fmtMs(m.get(c.name)), `${((m.get(c.name)!.medianMs / optimum - 1) * 100).toFixed(1)}%`]),
  );
  return Object.fromEntries(contenders.map((c) => [c.name, m.get(c.name)!.medianMs]));
}
