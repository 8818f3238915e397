import { causalAttention } from '../examples/causal-attention.js';
import { gla, glaDecode } from '../examples/gla.js';
import { compareWithReference } from '../src/autotune/check.js';
import { randomInputs } from '../src/autotune/inputs.js';
import type { SpaceLowering } from '../src/autotune/space.js';
import { type Sizes, bindProgram, shapeOf } from '../src/ir/bind.js';
import { type HostTensor } from '../src/ir/host.js';
import { storageBytes } from '../src/ir/dtype.js';
import { type Program } from '../src/ir/tensor.js';
import { type ResolvedSchedule, describeSchedule } from '../src/passes/schedule.js';
import { evaluate } from '../src/reference/evaluate.js';
import { Executable } from '../src/runtime/executable.js';
import type { WebGpuDevice } from '../src/runtime/webgpu.js';
import {
  type Row,
  type TuningQuestion,
  copyProgram,
  fmtMs,
  interleaved,
  openDb,
  pct,
  printTable,
  ratio,
  recordedSchedule,
  resultOf,
  timedExecutable,
  times,
  tunedSchedule,
  verdict,
} from './common.js';

type Budget = { trials?: number; seconds?: number };

export interface LinearAttentionBenchOptions {
  /** GLA's batch, heads, sequence length and key/value sizes. */
  readonly shape: { readonly B: number; readonly H: number; readonly L: number; readonly K: number; readonly V: number };
  /** Steps per chunk tried (each tuned as its own plan). */
  readonly chunks: readonly number[];
  /** Sequence lengths at which the chunked kernel and flash attention are timed side by side (the crossover). */
  readonly lengths: readonly number[];
  /** The decoding step's heads and key/value sizes; undefined skips decode. */
  readonly decode?: { readonly H: number; readonly K: number; readonly V: number } | undefined;
  readonly rounds: number;
  readonly tune: boolean;
  readonly tuneBudget: Budget;
  readonly db?: string | undefined;
}

/** The flash-attention schedule tuned on the software GPU at N = 512 (bench attention): lanes own 8 query rows, 16-key tiles staged. */
const FLASH_FALLBACK = { rows: { workgroupSize: 16, threadsPerRow: 1, stageSteps: 16, rowsPerLane: 8 } } as const;

/** Plans chunked C steps at a time: compiled with that chunk, tuned with the chunk knob held at it. */
const chunking = (chunk: number): SpaceLowering => ({ rewrites: { chunkScan: 'required' }, defaults: { chunk: { chunk } } });
const RECURRENT: SpaceLowering = { rewrites: { chunkScan: false } };

/** Random inputs of a program at sizes. */
const inputsOf = (p: Program, sizes: Sizes) => randomInputs(bindProgram(p, sizes).inputs.map((t) => ({ name: t.name, dtype: t.dtype, shape: shapeOf(t) })));

const sizesText = (s: Sizes) => Object.entries(s).map(([k, v]) => `${k}=${v}`).join(' ');

/**
 * Gated linear attention: the recurrence as written (a scan over t), the chunked form the
 * chunk-scan rewrite derives (each chunk size tuned), and tilecraft's causal flash attention at
 * the same shape, timed side by side; the lengths from which the chunked kernel beats flash
 * attention; and the decoding step's GB/s against a vec4 copy.
 */
export async function benchLinearAttention(device: WebGpuDevice, o: LinearAttentionBenchOptions, log: (s: string) => void) {
  const db = await openDb(o.db);
  const rows: (string | number)[][] = [];
  const ratioRows: (string | number)[][] = [];
  const results: Record<string, unknown>[] = [];
  const program = gla.build('f32');
  const flash = causalAttention.build('f32');
  const { B, H, L, K, V } = o.shape;

  const scheduleOf = async (name: string, p: Program, sizes: Sizes, q: TuningQuestion) =>
    o.tune ? tunedSchedule(db, device.info, name, p, sizes, o.tuneBudget, log, q) : recordedSchedule(db, device.info, p, sizes, q).then((s) => s && { schedule: s, source: 'database' as const });
  const flashSchedule = async (N: number) => {
    const s = await recordedSchedule(db, device.info, flash, { B, H, N, D: K });
    return s ? { schedule: s as ResolvedSchedule, source: 'database' } : undefined;
  };

  /** Compiles, runs once checked against `expected` (the warm-up), and returns the timed entry. */
  const entry = async (row: Row, p: Program, sizes: Sizes, options: object, inputs: Record<string, HostTensor>, expected?: Record<string, HostTensor>) => {
    const exe = await Executable.create(device, p, sizes, options);
    const { outputs } = await exe.run(inputs);
    for (const [name, want] of Object.entries(expected ?? {})) {
      const c = compareWithReference(outputs[name]!, want);
      if (!c.ok) throw new Error(`${row.name}: ${name} differs from the CPU reference by ${c.maxAbsError}`);
    }
    // a plan of many kernels (the chunked form) is named by its size here; --json has every knob
    const n = exe.plan.groups.length;
    return { row: { ...row, schedule: (n > 2 ? `${n} kernels` : describeSchedule(exe.plan.schedule)) + row.schedule }, exe, schedule: exe.plan.schedule };
  };
  const measure = async (label: string, entries: { row: Row; exe: Executable; schedule: ResolvedSchedule }[]) => {
    log(`  measuring ${entries.map((e) => e.row.name).join(', ')} (${o.rounds} rounds)`);
    const m = await interleaved(entries.map((e) => timedExecutable(e.row.name, e.exe)), o.rounds, 0);
    for (const e of entries) e.exe.destroy();
    const lines = entries.map((e) => ({ ...resultOf(e.row, m.get(e.row.name)), knobs: e.schedule }));
    for (const l of lines) rows.push([label, l.name, l.schedule, fmtMs(m.get(l.name)), l.gflops?.toFixed(2) ?? 'n/a', l.gbPerSecond?.toFixed(2) ?? 'n/a']);
    return { m, lines };
  };

  // GLA at the shape: recurrent, chunked at each chunk size, flash attention
  const sizes = { B, H, L, K, V };
  const label = `GLA ${sizesText(sizes)}`;
  log(label);
  const flops = 4 * B * H * L * K * V;
  const inputs = inputsOf(program, sizes);
  log('  the reference (the recurrence in float64)');
  const reference = evaluate(program, sizes, inputs).outputs;
  const entries: { row: Row; exe: Executable; schedule: ResolvedSchedule }[] = [];
  entries.push(await entry({ name: 'recurrent (as written)', schedule: '', flops }, program, sizes, RECURRENT, inputs, reference));
  const tunedChunks: { chunk: number; schedule?: ResolvedSchedule }[] = [];
  for (const chunk of o.chunks) {
    const s = await scheduleOf(`gla (chunks of ${chunk})`, program, sizes, { restrict: { chunk: [chunk] } });
    tunedChunks.push({ chunk, ...(s ? { schedule: s.schedule } : {}) });
    const name = `chunked C=${chunk}${s ? ' tuned' : ' default'}`;
    entries.push(await entry({ name, schedule: s ? ` (${s.source})` : '', flops }, program, sizes, { ...chunking(chunk), ...(s ? { schedule: s.schedule } : {}) }, inputs, reference));
  }
  const fs = await flashSchedule(L);
  const flashSizes = { B, H, N: L, D: K };
  const flashInputs = inputsOf(flash, flashSizes);
  entries.push(await entry({ name: 'flash attention (causal)', schedule: fs ? ` (${fs.source})` : ' (tuned at N=512)', flops: 2 * B * H * L * L * K }, flash, flashSizes, fs ? { schedule: fs.schedule } : { defaults: FLASH_FALLBACK }, flashInputs));
  const { m, lines } = await measure(label, entries);
  const ms = (k: string) => m.get(k)?.medianMs;
  const chunkedNames = entries.map((e) => e.row.name).filter((n) => n.startsWith('chunked'));
  const best = chunkedNames.reduce((a, b) => ((ms(a) ?? Infinity) <= (ms(b) ?? Infinity) ? a : b));
  const bestChunk = tunedChunks[chunkedNames.indexOf(best)]!;
  const overRecurrent = ratio(ms('recurrent (as written)'), ms(best));
  const overFlash = ratio(ms('flash attention (causal)'), ms(best));
  ratioRows.push([label, `${best} vs the recurrence as written (speed-up)`, times(overRecurrent), '>= 8x', verdict(overRecurrent, 8)]);
  ratioRows.push([label, `${best} vs flash attention (speed-up)`, times(overFlash), '', '']);
  results.push({ case: label, sizes, contenders: lines, ratios: { best, chunkedOverRecurrent: overRecurrent, chunkedOverFlash: overFlash } });

  // the crossover: the best chunk size (its schedule where tuned) against flash attention by length
  const crossover: { L: number; chunkedMs: number | undefined; flashMs: number | undefined }[] = [];
  for (const Lc of o.lengths) {
    const s = { B, H, L: Lc, K, V };
    const cl = `crossover L=${Lc}`;
    log(cl);
    const ins = inputsOf(program, s);
    const chunk = Math.min(bestChunk.chunk, Lc);
    const sched = chunk === bestChunk.chunk && bestChunk.schedule ? { schedule: bestChunk.schedule } : {};
    const fsc = await flashSchedule(Lc);
    const fsz = { B, H, N: Lc, D: K };
    const e = [
      await entry({ name: `chunked C=${chunk}`, schedule: '', flops: 4 * B * H * Lc * K * V }, program, s, { ...chunking(chunk), ...sched }, ins),
      await entry({ name: 'flash attention (causal)', schedule: fsc ? ` (${fsc.source})` : ' (tuned at N=512)', flops: 2 * B * H * Lc * Lc * K }, flash, fsz, fsc ? { schedule: fsc.schedule } : { defaults: FLASH_FALLBACK }, inputsOf(flash, fsz)),
    ];
    const r = await measure(cl, e);
    crossover.push({ L: Lc, chunkedMs: r.m.get(`chunked C=${chunk}`)?.medianMs, flashMs: r.m.get('flash attention (causal)')?.medianMs });
  }
  const from = crossover.find((c) => c.chunkedMs !== undefined && c.flashMs !== undefined && c.chunkedMs < c.flashMs)?.L;
  if (crossover.length) ratioRows.push([`crossover ${crossover.map((c) => c.L).join(', ')}`, 'shortest length at which the chunked kernel beats flash attention', from ?? 'none', '', '']);
  results.push({ case: 'crossover', chunk: bestChunk.chunk, lengths: crossover, from: from ?? null });

  // decoding: one step against a stored state, against a copy of the bytes it moves
  if (o.decode) {
    const d = { B: 1, ...o.decode };
    const dl = `GLA decode step ${sizesText(d)}`;
    log(dl);
    const stateBytes = storageBytes('f32', [d.B, d.H, d.K, d.V]);
    const bytes = 2 * stateBytes;
    const dprogram = glaDecode.build('f32');
    const din = inputsOf(dprogram, d);
    const dref = evaluate(dprogram, d, din).outputs;
    const tuned = await scheduleOf('gla-decode', dprogram, d, {});
    const n = Math.floor(stateBytes / 4);
    const copyTuned = await scheduleOf('copy (vec4)', copyProgram, { n }, { restrict: { vectorWidth: [4] } });
    const e = [
      await entry({ name: 'decode default', schedule: '', bytes }, dprogram, d, {}, din, dref),
      ...(tuned ? [await entry({ name: 'decode tuned', schedule: ` (${tuned.source})`, bytes }, dprogram, d, { schedule: tuned.schedule }, din, dref)] : []),
      await entry({ name: 'copy vec4', schedule: copyTuned ? ` (${copyTuned.source})` : '', bytes }, copyProgram, { n }, copyTuned ? { schedule: copyTuned.schedule } : { defaults: { elementwise: { vectorWidth: 4 } } }, inputsOf(copyProgram, { n })),
    ];
    const r = await measure(dl, e);
    const gb = (k: string) => r.lines.find((l) => l.name === k)?.gbPerSecond ?? undefined;
    const bestDecode = tuned ? 'decode tuned' : 'decode default';
    const ofCopy = ratio(gb(bestDecode), gb('copy vec4'));
    ratioRows.push([dl, `${bestDecode} state GB/s / copy vec4 GB/s`, pct(ofCopy), '>= 60%', verdict(ofCopy, 0.6)]);
    results.push({ case: dl, sizes: d, bytes, contenders: r.lines, ratios: { decodeOverCopy: ofCopy } });
  }

  printTable(['case', 'contender', 'schedule', 'ms (median ±spread)', 'GFLOP/s', 'GB/s'], rows);
  printTable(['case', 'ratio', 'measured', 'target', 'met'], ratioRows);
  console.log('GFLOP/s: GLA 4·B·H·L·K·V / time; causal attention 2·B·H·L²·D (the whole score square it computes). GB/s: decode, the state read and written; copy, bytes read and written.');
  return results;
}
