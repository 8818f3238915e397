import { causalAttention } from '../examples/causal-attention.js';
import { gla, glaDecode } from '../examples/gla.js';
import { compareWithReference } from '../src/autotune/check.js';
import { type TuningDatabase } from '../src/autotune/db.js';
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
  const bench = new LinearAttentionBench(device, o, log, await openDb(o.db));
  const best = await bench.prefill();
  await bench.crossover(best);
  if (o.decode) await bench.decode(o.decode);
  printTable(['case', 'contender', 'schedule', 'ms (median ±spread)', 'GFLOP/s', 'GB/s'], bench.rows);
  printTable(['case', 'ratio', 'measured', 'target', 'met'], bench.ratioRows);
  console.log('GFLOP/s: GLA 4·B·H·L·K·V / time; causal attention 2·B·H·L²·D (the whole score square it computes). GB/s: decode, the state read and written; copy, bytes read and written.');
  return bench.results;
}

type Entry = { readonly row: Row; readonly exe: Executable; readonly schedule: ResolvedSchedule };

class LinearAttentionBench {
  readonly rows: (string | number)[][] = [];
  readonly ratioRows: (string | number)[][] = [];
  readonly results: Record<string, unknown>[] = [];
  private readonly program = gla.build('f32');
  private readonly flash = causalAttention.build('f32');

  constructor(
    private readonly device: WebGpuDevice,
    private readonly o: LinearAttentionBenchOptions,
    private readonly log: (s: string) => void,
    private readonly db: TuningDatabase,
  ) {}

  /** GLA at the shape: the recurrence, chunked at each chunk size (tuned), causal flash attention. Returns the fastest chunk and its schedule. */
  async prefill(): Promise<{ chunk: number; schedule?: ResolvedSchedule }> {
    const { program } = this;
    const { B, H, L, K, V } = this.o.shape;
    const sizes = { B, H, L, K, V };
    const label = `GLA ${sizesText(sizes)}`;
    this.log(label);
    const flops = 4 * B * H * L * K * V;
    const inputs = inputsOf(program, sizes);
    this.log('  the reference (the recurrence in float64)');
    const reference = evaluate(program, sizes, inputs).outputs;
    const entries: Entry[] = [await this.entry({ name: 'recurrent (as written)', schedule: '', flops }, program, sizes, RECURRENT, inputs, reference)];
    const tunedChunks: { chunk: number; schedule?: ResolvedSchedule }[] = [];
    for (const chunk of this.o.chunks) {
      const s = await this.scheduleOf(`gla (chunks of ${chunk})`, program, sizes, { restrict: { chunk: [chunk] } });
      tunedChunks.push({ chunk, ...(s ? { schedule: s.schedule } : {}) });
      const name = `chunked C=${chunk}${s ? ' tuned' : ' default'}`;
      entries.push(await this.entry({ name, schedule: s ? ` (${s.source})` : '', flops }, program, sizes, { ...chunking(chunk), ...(s ? { schedule: s.schedule } : {}) }, inputs, reference));
    }
    entries.push(await this.flashEntry(L));
    const { m, lines } = await this.measure(label, entries);
    const ms = (k: string) => m.get(k)?.medianMs;
    const chunkedNames = entries.map((e) => e.row.name).filter((n) => n.startsWith('chunked'));
    const best = chunkedNames.reduce((a, b) => ((ms(a) ?? Infinity) <= (ms(b) ?? Infinity) ? a : b));
    const overRecurrent = ratio(ms('recurrent (as written)'), ms(best));
    const overFlash = ratio(ms('flash attention (causal)'), ms(best));
    this.ratioRows.push([label, `${best} vs the recurrence as written (speed-up)`, times(overRecurrent), '>= 8x', verdict(overRecurrent, 8)]);
    this.ratioRows.push([label, `${best} vs flash attention (speed-up)`, times(overFlash), '', '']);
    this.results.push({ case: label, sizes, contenders: lines, ratios: { best, chunkedOverRecurrent: overRecurrent, chunkedOverFlash: overFlash } });
    return tunedChunks[chunkedNames.indexOf(best)]!;
  }

  /** The chunked kernel at the best chunk size (its schedule where tuned) against flash attention, length by length. */
  async crossover(best: { chunk: number; schedule?: ResolvedSchedule }): Promise<void> {
    const { B, H, K, V } = this.o.shape;
    const crossover: { L: number; chunkedMs: number | undefined; flashMs: number | undefined }[] = [];
    for (const L of this.o.lengths) {
      const sizes = { B, H, L, K, V };
      const label = `crossover L=${L}`;
      this.log(label);
      const chunk = Math.min(best.chunk, L);
      const schedule = chunk === best.chunk && best.schedule ? { schedule: best.schedule } : {};
      const name = `chunked C=${chunk}`;
      const e = [
        await this.entry({ name, schedule: '', flops: 4 * B * H * L * K * V }, this.program, sizes, { ...chunking(chunk), ...schedule }, inputsOf(this.program, sizes)),
        await this.flashEntry(L),
      ];
      const { m } = await this.measure(label, e);
      crossover.push({ L, chunkedMs: m.get(name)?.medianMs, flashMs: m.get('flash attention (causal)')?.medianMs });
    }
    const from = crossover.find((c) => c.chunkedMs !== undefined && c.flashMs !== undefined && c.chunkedMs < c.flashMs)?.L;
    if (crossover.length) this.ratioRows.push([`crossover ${crossover.map((c) => c.L).join(', ')}`, 'shortest length at which the chunked kernel beats flash attention', from ?? 'none', '', '']);
    this.results.push({ case: 'crossover', chunk: best.chunk, lengths: crossover, from: from ?? null });
  }

  /** One decoding step against a stored state, against a copy of the bytes it moves. */
  async decode(shape: NonNullable<LinearAttentionBenchOptions['decode']>): Promise<void> {
    const d = { B: 1, ...shape };
    const label = `GLA decode step ${sizesText(d)}`;
    this.log(label);
    const stateBytes = storageBytes('f32', [d.B, d.H, d.K, d.V]);
    const bytes = 2 * stateBytes;
    const program = glaDecode.build('f32');
    const inputs = inputsOf(program, d);
    const reference = evaluate(program, d, inputs).outputs;
    const tuned = await this.scheduleOf('gla-decode', program, d, {});
    const n = Math.floor(stateBytes / 4);
    const copyTuned = await this.scheduleOf('copy (vec4)', copyProgram, { n }, { restrict: { vectorWidth: [4] } });
    const e = [
      await this.entry({ name: 'decode default', schedule: '', bytes }, program, d, {}, inputs, reference),
      ...(tuned ? [await this.entry({ name: 'decode tuned', schedule: ` (${tuned.source})`, bytes }, program, d, { schedule: tuned.schedule }, inputs, reference)] : []),
      await this.entry({ name: 'copy vec4', schedule: copyTuned ? ` (${copyTuned.source})` : '', bytes }, copyProgram, { n }, copyTuned ? { schedule: copyTuned.schedule } : { defaults: { elementwise: { vectorWidth: 4 } } }, inputsOf(copyProgram, { n })),
    ];
    const { lines } = await this.measure(label, e);
    const gb = (k: string) => lines.find((l) => l.name === k)?.gbPerSecond ?? undefined;
    const best = tuned ? 'decode tuned' : 'decode default';
    const ofCopy = ratio(gb(best), gb('copy vec4'));
    this.ratioRows.push([label, `${best} state GB/s / copy vec4 GB/s`, pct(ofCopy), '>= 60%', verdict(ofCopy, 0.6)]);
    this.results.push({ case: label, sizes: d, bytes, contenders: lines, ratios: { decodeOverCopy: ofCopy } });
  }

  /** The schedule tuned now (or recorded) for a program, or undefined (its default then). */
  private scheduleOf(name: string, p: Program, sizes: Sizes, q: TuningQuestion) {
    const { db, device, o, log } = this;
    if (o.tune) return tunedSchedule(db, device.info, name, p, sizes, o.tuneBudget, log, q);
    return recordedSchedule(db, device.info, p, sizes, q).then((s) => s && { schedule: s, source: 'database' as const });
  }

  /** Causal flash attention at N = L with the head size K: its recorded schedule, else the one tuned at N = 512. */
  private async flashEntry(L: number): Promise<Entry> {
    const { B, H, K } = this.o.shape;
    const sizes = { B, H, N: L, D: K };
    const recorded = await recordedSchedule(this.db, this.device.info, this.flash, sizes);
    const row = { name: 'flash attention (causal)', schedule: recorded ? ' (database)' : ' (tuned at N=512)', flops: 2 * B * H * L * L * K };
    return this.entry(row, this.flash, sizes, recorded ? { schedule: recorded } : { defaults: FLASH_FALLBACK }, inputsOf(this.flash, sizes));
  }

  /** Compiles, runs once checked against `expected` (the warm-up), and returns the timed entry. */
  private async entry(row: Row, p: Program, sizes: Sizes, options: object, inputs: Record<string, HostTensor>, expected?: Record<string, HostTensor>): Promise<Entry> {
    const exe = await Executable.create(this.device, p, sizes, options);
    const { outputs } = await exe.run(inputs);
    for (const [name, want] of Object.entries(expected ?? {})) {
      const c = compareWithReference(outputs[name]!, want);
      if (!c.ok) throw new Error(`${row.name}: ${name} differs from the CPU reference by ${c.maxAbsError}`);
    }
    // a plan of many kernels (the chunked form) is named by its size here; --json has every knob
    const n = exe.plan.groups.length;
    return { row: { ...row, schedule: (n > 2 ? `${n} kernels` : describeSchedule(exe.plan.schedule)) + row.schedule }, exe, schedule: exe.plan.schedule };
  }

  private async measure(label: string, entries: readonly Entry[]) {
    this.log(`  measuring ${entries.map((e) => e.row.name).join(', ')} (${this.o.rounds} rounds)`);
    const m = await interleaved(entries.map((e) => timedExecutable(e.row.name, e.exe)), this.o.rounds, 0);
    for (const e of entries) e.exe.destroy();
    const lines = entries.map((e) => ({ ...resultOf(e.row, m.get(e.row.name)), knobs: e.schedule }));
    for (const l of lines) this.rows.push([label, l.name, l.schedule, fmtMs(m.get(l.name)), l.gflops?.toFixed(2) ?? 'n/a', l.gbPerSecond?.toFixed(2) ?? 'n/a']);
    return { m, lines };
  }
}
