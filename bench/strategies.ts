import { matmul } from '../examples/matmul.js';
import { MeasuringWorker } from '../src/autotune/pool.js';
import { type Restrictions, searchSpace, spaceSize } from '../src/autotune/space.js';
import { type Measurer, type TuneResult, tune } from '../src/autotune/tuner.js';
import { randomHost } from '../src/ir/host.js';
import { serializeProgram } from '../src/ir/serialize.js';
import { describeSchedule } from '../src/passes/schedule.js';
import { Executable } from '../src/runtime/executable.js';
import type { WebGpuDevice } from '../src/runtime/webgpu.js';
import { type Contender, fmtMs, interleaved, printTable } from './common.js';

export interface StrategyBenchOptions {
  readonly size: number;
  readonly seeds: readonly number[];
  readonly rounds: number;
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

/**
 * The guided search against the exhaustive optimum on the same space: how close it gets and how
 * many candidates it measures. The winners are then timed again side by side, so the comparison
 * is not at the mercy of the machine's load during the searches.
 */
export async function benchStrategies(device: WebGpuDevice, o: StrategyBenchOptions, log: (s: string) => void) {
  const program = matmul.build('f32');
  const sizes = { M: o.size, N: o.size, K: o.size };
  const worker = new MeasuringWorker({ backend: 'webgpu', program: serializeProgram(program), sizes, seed: 1, candidateTimeoutMs: 120_000, startTimeoutMs: 300_000 });
  const runs: { label: string; result: TuneResult }[] = [];
  try {
    const info = await worker.start();
    const space = searchSpace(info, program, sizes, STRATEGY_SPACE);
    const measure: Measurer = (s, request) => worker.measure(s, request);
    log(`  space: ${spaceSize(space)} points`);
    const all = await tune(info, program, sizes, space, measure, { strategy: 'exhaustive', budget: { trials: 100_000 } }, {
      onProgress: (p) => p.measured % 25 === 0 && log(`  exhaustive ${p.phase} ${p.measured}/${p.total}`),
    });
    runs.push({ label: 'exhaustive', result: all });
    log(`  exhaustive: ${all.candidates.length} candidates (${all.validCount} valid) in ${all.seconds.toFixed(0)} s`);
    const budget = Math.floor((all.validCount ?? all.candidates.length) / 5);
    for (const seed of o.seeds) {
      const g = await tune(info, program, sizes, space, measure, { strategy: 'guided', budget: { trials: budget }, seed });
      runs.push({ label: `guided seed ${seed}`, result: g });
      log(`  guided seed ${seed}: ${g.candidates.length} candidates in ${g.seconds.toFixed(0)} s`);
    }
  } finally {
    worker.close();
  }
  // the winners, side by side
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
  // the same comparison inside the exhaustive run, which measured every candidate back to back:
  // how far each winner's time there is from the best time there
  const all = runs[0]!.result.candidates.filter((c) => c.status === 'ok' && c.screen);
  const fastest = Math.min(...all.map((c) => c.screen!.medianMs));
  const inExhaustive = (r: TuneResult) => all.find((c) => c.key === r.best?.key)?.screen?.medianMs;
  const rows = runs.map(({ label, result }) => [
    label,
    String(result.candidates.length),
    `${((100 * result.candidates.length) / (runs[0]!.result.validCount ?? 1)).toFixed(0)}%`,
    result.best ? describeSchedule(result.best.schedule) : 'none',
    fmtMs(m.get(label)),
    m.get(label) ? `${((m.get(label)!.medianMs / optimum - 1) * 100).toFixed(1)}%` : 'n/a',
    inExhaustive(result) !== undefined ? `${((inExhaustive(result)! / fastest - 1) * 100).toFixed(1)}%` : 'n/a',
    `${result.seconds.toFixed(0)} s`,
  ]);
  printTable(
    ['search', 'measured', 'of valid', 'winner', 'winner ms, side by side', 'vs exhaustive winner, side by side', 'vs optimum, in the exhaustive run', 'search time'],
    rows,
  );
  return runs.map(({ label, result }) => ({
    label,
    measured: result.candidates.length,
    validCount: result.validCount ?? null,
    winner: result.best?.schedule ?? null,
    sideBySideMs: m.get(label)?.medianMs ?? null,
    overExhaustiveWinnerSideBySide: m.get(label) ? m.get(label)!.medianMs / optimum - 1 : null,
    overOptimumInExhaustiveRun: inExhaustive(result) !== undefined ? inExhaustive(result)! / fastest - 1 : null,
    seconds: result.seconds,
  }));
}
