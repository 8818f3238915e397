import Table from 'cli-table3';
import { tableStyle } from '../src/cli/style.js';
import { homedir } from 'node:os';
import { writeFileSync } from 'node:fs';
import { TuningDatabase, defaultDatabasePath } from '../src/autotune/db.js';
import { deviceFingerprint, deviceSummary } from '../src/autotune/fingerprint.js';
import { type Measurement } from '../src/autotune/measure.js';
import { type Contender } from '../src/autotune/measure.js';
export { type Contender, interleaved } from '../src/autotune/measure.js';
import { MeasuringWorker } from '../src/autotune/pool.js';
import { type Restrictions, type SpaceLowering, searchSpace } from '../src/autotune/space.js';
import { tune } from '../src/autotune/tuner.js';
import { tuningKeyFor } from '../src/autotune/lookup.js';
import { seedsFromDatabase } from '../src/autotune/seeds.js';
import { deviceCostModel, recordSamples } from '../src/autotune/device-model.js';
import { type Sizes } from '../src/ir/bind.js';
import { canonicalJson } from '../src/ir/hash.js';
import { serializeProgram } from '../src/ir/serialize.js';
import { type Program } from '../src/ir/tensor.js';
import { program as buildProgram } from '../src/dsl/program.js';
import { type ResolvedSchedule } from '../src/passes/schedule.js';
import type { DeviceInfo } from '../src/runtime/device.js';
import type { Executable } from '../src/runtime/executable.js';

export function openDb(path: string | undefined): Promise<TuningDatabase> {
  return TuningDatabase.open(path ?? defaultDatabasePath(process.env, homedir(), process.platform));
}

/** How a tuning is asked: knobs pinned to some values, lowering options every candidate keeps. */
export interface TuningQuestion {
  /** Keep only these values of a knob (for every group that has it), as `autotune tune --knob`. */
  readonly restrict?: Restrictions;
  /** Rewrites, grouping, knob defaults the search holds fixed (see `searchSpace`). */
  readonly lowering?: SpaceLowering;
}

/**
 * The program the database keys a tuning by. The key is the program's canonical form (its name
 * dropped, tensor names kept) and sizes, nothing about how it was searched; a search with knobs
 * pinned or other lowering options answers another question (a three-kernel attention plan's
 * schedule names groups the streamed plan does not have), so its result is keyed by the program
 * with its outputs tagged with the question: a program that is only hashed, never lowered.
 */
export function keyProgram(program: Program, q: TuningQuestion = {}): Program {
  const asked = { ...(q.restrict && Object.keys(q.restrict).length ? { restrict: q.restrict } : {}), ...(q.lowering && Object.keys(q.lowering).length ? { lowering: q.lowering } : {}) };
  if (Object.keys(asked).length === 0) return program;
  const tag = canonicalJson(asked);
  return { ...program, outputs: program.outputs.map((o) => `${o}@${tag}`) };
}

/** The schedule recorded for a program (asked as `q`) on this device, if any. */
export async function recordedSchedule(db: TuningDatabase, info: DeviceInfo, program: Program, sizes: Sizes, q: TuningQuestion = {}): Promise<ResolvedSchedule | undefined> {
  return (await db.lookup(tuningKeyFor(info, keyProgram(program, q), sizes)))?.entry.schedule;
}

/**
 * The tuned schedule for a program on this device: from the database, or found now with the
 * guided search within `budget` and recorded (under `keyProgram(program, q)`).
 */
export async function tunedSchedule(
  db: TuningDatabase,
  info: DeviceInfo,
  name: string,
  program: Program,
  sizes: Sizes,
  budget: { trials?: number; seconds?: number },
  log: (s: string) => void,
  q: TuningQuestion = {},
): Promise<{ schedule: ResolvedSchedule; source: 'database' | 'tuned now' } | undefined> {
  const keyed = keyProgram(program, q);
  const hit = await db.lookup(tuningKeyFor(info, keyed, sizes));
  if (hit) return { schedule: hit.entry.schedule, source: 'database' };
  log(`  tuning ${name} ${Object.entries(sizes).map(([k, v]) => `${k}=${v}`).join(' ')} (budget ${JSON.stringify(budget)})`);
  const worker = new MeasuringWorker({
    backend: info.backend,
    program: serializeProgram(program),
    sizes,
    seed: 1,
    candidateTimeoutMs: 180_000,
    startTimeoutMs: 600_000,
  });
  try {
    const workerInfo = await worker.start();
    const space = searchSpace(workerInfo, program, sizes, q.restrict, q.lowering);
    const key = tuningKeyFor(workerInfo, keyed, sizes);
    const seeds = await seedsFromDatabase(db, key);
    // ranked by the device's cost model, as `autotune tune` does, and adding to what it learns from
    const model = deviceCostModel(workerInfo, db.path);
    const r = await tune(workerInfo, program, sizes, space, (s, request) => worker.measure(s, request), { strategy: 'guided', budget, seeds, model });
    recordSamples(workerInfo, r.samples, db.path);
    if (!r.best) return undefined;
    const ms = r.best.final?.medianMs ?? r.best.screen!.medianMs;
    await db.record({
      ...key,
      deviceSummary: deviceSummary(workerInfo),
      program: name,
      sizes,
      schedule: r.best.schedule,
      medianMs: ms,
      spread: (r.best.final ?? r.best.screen)!.spread,
      candidates: r.candidates.filter((c) => c.status === 'ok').length,
      strategy: `${r.strategy}(seed=1)`,
      tieBreak: r.tieBreak,
      toleranceBand: r.band,
      runnersUp: [],
    });
    log(`  tuned in ${r.seconds.toFixed(0)} s over ${r.candidates.length} candidates`);
    return { schedule: r.best.schedule, source: 'tuned now' };
  } finally {
    worker.close();
  }
}

export function printTable(head: string[], rows: (string | number)[][]): void {
  const t = new Table({ head, ...tableStyle() });
  for (const r of rows) t.push(r.map(String));
  console.log(t.toString());
}

export function writeJson(path: string | undefined, value: unknown): void {
  if (!path) return;
  const text = JSON.stringify(value, null, 2);
  if (path === '-') console.log(text);
  else writeFileSync(path, text + '\n');
}

export const fmtMs = (m: Measurement | undefined) => (m ? `${m.medianMs.toFixed(2)} ±${(m.spread * 100).toFixed(0)}%` : 'n/a');
export const describeDevice = (info: DeviceInfo) => deviceSummary(info);
export { deviceFingerprint };

/** A contender running an executable's kernels once, timed on the device (summed over its kernels) where it can, else by the wall clock. */
export const timedExecutable = (name: string, exe: Executable, sizes?: Sizes): Contender => ({
  name,
  run: async () => {
    const r = await exe.dispatch({}, sizes ? { timing: true, sizes } : { timing: true });
    return r.kernelMs ? r.kernelMs.reduce((a, b) => a + b, 0) : r.wallMs;
  },
});

/** y = x over n elements, in vectors of 4: what memory bandwidth a kernel can reach here. */
export const copyProgram = buildProgram('copy', (p) => {
  const [n] = p.sizes('n');
  p.output('Y', p.input('X', 'f32', { i: n }));
});

/** A contender's name, schedule, and the work its GFLOP/s and GB/s figures count. */
export interface Row {
  readonly name: string;
  readonly schedule: string;
  readonly flops?: number | undefined;
  /** Bytes a GB/s figure counts for this row. */
  readonly bytes?: number | undefined;
}

/** One contender's line of results. */
export function resultOf(r: Row, m: Measurement | undefined) {
  const s = m ? m.medianMs * 1e-3 : undefined;
  return {
    name: r.name,
    schedule: r.schedule,
    ms: m ? { median: m.medianMs, min: m.minMs, spread: m.spread, samples: m.samples } : null,
    gflops: s && r.flops ? r.flops / s / 1e9 : null,
    gbPerSecond: s && r.bytes ? r.bytes / s / 1e9 : null,
  };
}

/** A ratio as a speed-up, a ratio as a percentage, and whether it meets a target, for the ratio tables. */
export const times = (v: number | undefined) => (v === undefined ? 'n/a' : `${v.toFixed(2)}x`);
export const pct = (v: number | undefined) => (v === undefined ? 'n/a' : `${(v * 100).toFixed(0)}%`);
export const verdict = (v: number | undefined, target: number) => (v === undefined ? '' : v >= target ? 'yes' : 'no');
/** a / b where both are known. */
export const ratio = (a: number | undefined | null, b: number | undefined | null) => (a != null && b != null && b !== 0 ? a / b : undefined);
