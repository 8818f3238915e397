import { int4Gemm } from '../examples/lowbit-gemm.js';
import { compareWithReference } from '../src/autotune/check.js';
import { randomInputs } from '../src/autotune/inputs.js';
import { program as buildProgram } from '../src/dsl/program.js';
import { type Sizes } from '../src/ir/bind.js';
import { storageBytes } from '../src/ir/dtype.js';
import { type Program } from '../src/ir/tensor.js';
import { describeSchedule } from '../src/passes/schedule.js';
import { evaluate } from '../src/reference/evaluate.js';
import { type CompileOptions, Executable } from '../src/runtime/executable.js';
import type { WebGpuDevice } from '../src/runtime/webgpu.js';
import { type TuningQuestion, copyProgram, fmtMs, interleaved, openDb, pct, printTable, recordedSchedule, timedExecutable, times, tunedSchedule, verdict } from './common.js';
import { FMA_PROBE, sameRunCeilings } from './roofline.js';

type Budget = { trials?: number; seconds?: number };

export interface LowbitBenchOptions {
  readonly N: number;
  readonly K: number;
  /** int4 group sizes timed at M = 1. */
  readonly groups: readonly number[];
  /** Skinny M (> 1) timed with int4 at the last group size against f16 weights. */
  readonly skinny: readonly number[];
  readonly rounds: number;
  readonly tune: boolean;
  readonly tuneBudget: Budget;
  readonly copyTuneBudget: Budget;
  readonly db?: string | undefined;
}

/** The same product with f16 weights (4× the bytes of int4): Y = sum[k] X · f32(W). */
const f16Weights = buildProgram('f16w_gemm', (p) => {
  const [M, N, K] = p.sizes('M', 'N', 'K');
  const x = p.input('X', 'f32', { m: M, k: K });
  const w = p.input('W', 'f16', { n: N, k: K });
  p.output('Y', x.mul(w.cast('f32')).sum('k'));
});

interface Entry {
  readonly name: string;
  readonly exe: Executable;
  readonly schedule: string;
  /** Bytes of weights (and scales) streamed: the GB/s a GEMV is judged by. */
  readonly bytes: number;
  readonly flops: number;
}


/**
 * int4 GEMV and skinny GEMM against the same products with f16 weights and a vec4 copy (this
 * device's memory limit), every contender of a case timed in one interleaved run, each checked
 * against the CPU reference first.
 */
export async function benchLowbit(device: WebGpuDevice, o: LowbitBenchOptions, log: (s: string) => void) {
  const db = await openDb(o.db);
  const rows: (string | number)[][] = [];
  const ratioRows: (string | number)[][] = [];
  const results: Record<string, unknown>[] = [];
  const int4 = int4Gemm.build('f32');
  const { N, K } = o;
  const fma = await sameRunCeilings(device);

  const entry = async (name: string, program: Program, sizes: Sizes, tuned: boolean, q: TuningQuestion = {}): Promise<Entry> => {
    const t = !tuned
      ? undefined
      : o.tune
        ? await tunedSchedule(db, device.info, name, program, sizes, program === copyProgram ? o.copyTuneBudget : o.tuneBudget, log, q)
        : await recordedSchedule(db, device.info, program, sizes, q).then((s) => s && { schedule: s, source: 'database' as const });
    const opts: CompileOptions = t ? { schedule: t.schedule } : program === copyProgram ? { defaults: { elementwise: { vectorWidth: 4 } } } : {};
    const exe = await Executable.create(device, program, sizes, opts);
    const inputs = randomInputs(exe.inputs);
    const weights = exe.inputs.filter((i) => i.name !== 'X' || program === copyProgram).reduce((a, i) => a + storageBytes(i.dtype, i.shape), 0);
    const bytes = program === copyProgram ? 2 * weights : weights;
    if (program !== copyProgram) {
      // checked against the CPU reference before it is timed (that run is also its warm-up)
      const { outputs } = await exe.run(inputs);
      const c = compareWithReference(outputs.Y!, evaluate(program, sizes, inputs).outputs.Y!);
      if (!c.ok) throw new Error(`${name}: Y differs from the CPU reference by ${c.maxAbsError}`);
    } else {
      for (const t of exe.inputs) exe.upload(t.name, inputs[t.name]!);
      await exe.dispatch();
    }
    const src = t ? ` (${t.source})` : tuned ? ' (no tuned schedule: default)' : '';
    const flops = program === copyProgram ? 0 : 2 * (sizes.M ?? 1) * N * K;
    return { name, exe, schedule: describeSchedule(exe.plan.schedule) + src, bytes, flops };
  };

  const measure = async (label: string, entries: Entry[]) => {
    log(`  measuring ${entries.map((e) => e.name).join(', ')} (${o.rounds} rounds)`);
    // the FMA probe in the same rounds: the arithmetic side of the roofline, measured alongside
    const m = await interleaved([...entries.map((e) => timedExecutable(e.name, e.exe)), ...fma.contenders.filter((c) => c.name === FMA_PROBE)], o.rounds, 0);
    const lines = entries.map((e) => {
      const ms = m.get(e.name);
      const s = ms ? ms.medianMs * 1e-3 : undefined;
      return {
        name: e.name,
        schedule: e.schedule,
        ms: ms ? { median: ms.medianMs, min: ms.minMs, spread: ms.spread, samples: ms.samples } : null,
        gbPerSecond: s ? e.bytes / s / 1e9 : null,
        gflops: s && e.flops ? e.flops / s / 1e9 : null,
      };
    });
    for (const l of lines) rows.push([label, l.name, l.schedule, fmtMs(m.get(l.name)), l.gflops?.toFixed(2) ?? '', l.gbPerSecond?.toFixed(2) ?? 'n/a']);
    for (const e of entries) e.exe.destroy();
    return { m, lines };
  };

  // M = 1: int4 at each group size, f16 weights, and a copy of as many bytes as int4 g128 streams
  {
    const label = `GEMV M=1 N=${N} K=${K}`;
    log(label);
    const entries: Entry[] = [];
    for (const G of o.groups) entries.push(await entry(`int4 g${G} tuned`, int4, { M: 1, N, K, G }, true));
    const G = o.groups.at(-1)!;
    entries.push(await entry(`int4 g${G} default`, int4, { M: 1, N, K, G }, false));
    entries.push(await entry('f16 weights tuned', f16Weights, { M: 1, N, K }, true));
    const n = Math.ceil((N * K) / 2 / 4 / 2 / 4) * 4; // half the int4 weight bytes read, half written
    entries.push(await entry('copy vec4', copyProgram, { n }, true, { restrict: { vectorWidth: [4] } }));
    const { m, lines } = await measure(label, entries);
    const gb = (k: string) => lines.find((l) => l.name === k)?.gbPerSecond ?? undefined;
    const ms = (k: string) => m.get(k)?.medianMs;
    const ratios: Record<string, number | undefined> = {};
    for (const G of o.groups) {
      const r = gb(`int4 g${G} tuned`) && gb('copy vec4') ? gb(`int4 g${G} tuned`)! / gb('copy vec4')! : undefined;
      const s = ms(`int4 g${G} tuned`) && ms('f16 weights tuned') ? ms('f16 weights tuned')! / ms(`int4 g${G} tuned`)! : undefined;
      ratios[`int4g${G}OverCopy`] = r;
      ratios[`int4g${G}OverF16`] = s;
      ratioRows.push(
        [label, `int4 g${G} weight GB/s / copy vec4 GB/s`, pct(r), '>= 60%', verdict(r, 0.6)],
        [label, `int4 g${G} vs f16 weights (speed-up)`, times(s), '>= 3x', verdict(s, 3)],
      );
    }
    const tunedOverDefault = ms(`int4 g${G} default`) && ms(`int4 g${G} tuned`) ? ms(`int4 g${G} default`)! / ms(`int4 g${G} tuned`)! : undefined;
    const flops = 2 * N * K;
    const peak = fma.fmaGflops(m);
    const ofFma = peak && ms(`int4 g${G} tuned`) ? flops / (ms(`int4 g${G} tuned`)! * 1e-3) / 1e9 / peak : undefined;
    ratioRows.push([label, `int4 g${G} GFLOP/s / FMA f32 (same run)`, pct(ofFma), '', '']);
    ratioRows.push([label, `int4 g${G} tuned vs default (speed-up)`, times(tunedOverDefault), '', '']);
    results.push({ case: label, sizes: { M: 1, N, K }, contenders: lines, ratios: { ...ratios, tunedOverDefault, ofFmaPeak: ofFma ?? null } });
  }

  for (const M of o.skinny) {
    const G = o.groups.at(-1)!;
    const label = `skinny GEMM M=${M} N=${N} K=${K}`;
    log(label);
    const entries = [await entry(`int4 g${G} tuned`, int4, { M, N, K, G }, true), await entry('f16 weights tuned', f16Weights, { M, N, K }, true)];
    const { m, lines } = await measure(label, entries);
    const a = m.get(`int4 g${G} tuned`)?.medianMs;
    const b = m.get('f16 weights tuned')?.medianMs;
    const s = a && b ? b / a : undefined;
    ratioRows.push([label, `int4 g${G} vs f16 weights (speed-up)`, times(s), '>= 2x', verdict(s, 2)]);
    results.push({ case: label, sizes: { M, N, K, G }, contenders: lines, ratios: { int4OverF16: s } });
  }

  fma.destroy();
  printTable(['case', 'contender', 'schedule', 'ms (median ±spread)', 'GFLOP/s', 'GB/s'], rows);
  printTable(['case', 'ratio', 'measured', 'target', 'met'], ratioRows);
  console.log('GB/s: weight bytes (and scales) read per second; copy: bytes read and written. GFLOP/s: 2·M·N·K / time.');
  return results;
}
