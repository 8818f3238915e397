import { attention } from '../examples/attention.js';
import { type Example, findExample } from '../examples/index.js';
import { matmul } from '../examples/matmul.js';
import { randomInputs } from '../src/autotune/inputs.js';
import type { SpaceLowering } from '../src/autotune/space.js';
import { type Sizes } from '../src/ir/bind.js';
import { storageBytes } from '../src/ir/dtype.js';
import { type HostTensor } from '../src/ir/host.js';
import { type Program } from '../src/ir/tensor.js';
import { type KnobDefaults, type ResolvedSchedule, describeSchedule } from '../src/passes/schedule.js';
import { Executable } from '../src/runtime/executable.js';
import { planFor } from '../src/runtime/target.js';
import type { WebGpuDevice } from '../src/runtime/webgpu.js';
import { type Contender, type Row, type TuningQuestion, copyProgram, fmtMs, interleaved, openDb, pct, printTable, recordedSchedule, resultOf, timedExecutable, times, tunedSchedule, verdict } from './common.js';
import { DeviceLimitError } from '../src/ir/errors.js';
import { checkBufferLimits } from '../src/runtime/limits.js';
import { deviceCostModel } from '../src/autotune/device-model.js';
import { describeModel } from '../src/autotune/cost-model.js';
import { modelSchedule } from '../src/autotune/model-search.js';
import { sameRunCeilings } from './roofline.js';
import { tfjsContender, tfjsOn } from './tfjs.js';

type Budget = { trials?: number; seconds?: number };

export interface AttentionBenchOptions {
  /** Prefill sequence lengths (N = M), each at `prefillShape`'s batch, heads and head size. */
  readonly prefill: readonly number[];
  readonly prefillShape: { readonly B: number; readonly H: number; readonly D: number };
  /** Decode (N = 1) at these heads, keys and head size; undefined skips decode. */
  readonly decode?: { readonly H: number; readonly M: number; readonly D: number } | undefined;
  readonly rounds: number;
  /** Rounds for prefill lengths above `tuneUpTo` (slow on a software GPU). */
  readonly roundsLong: number;
  /** Prefill lengths up to this are tuned now when the database has no schedule; longer ones reuse the schedule of the longest tuned one. */
  readonly tuneUpTo: number;
  readonly tune: boolean;
  readonly tuneBudget: Budget;
  readonly decodeTuneBudget: Budget;
  readonly gemmTuneBudget: Budget;
  readonly copyTuneBudget: Budget;
  readonly db?: string | undefined;
  readonly tfjs: boolean;
  readonly gemm: boolean;
}

/** The three-kernel plan: scores contraction, softmax rows, P·V contraction (the rewrite off). */
const THREE_KERNELS: SpaceLowering = { rewrites: { onlineSoftmax: false } };

/** The 1024³ f32 GEMM whose tuned GFLOP/s is the yardstick for the prefill kernels. */
const GEMM_SIZES = { M: 1024, N: 1024, K: 1024 };

/**
 * The decode programs. `decode-attention` and `gqa-attention` are taken from the examples when
 * they are registered there (examples/index.ts); until then decode is the attention example at
 * N = 1 (the same math) and GQA is skipped.
 */
function decodeCases(d: NonNullable<AttentionBenchOptions['decode']>): { label: string; example: Example; sizes: Sizes }[] {
  const want: Sizes = { B: 1, N: 1, H: d.H, M: d.M, D: d.D };
  // the sizes asked for where the example has a size of that name, its own defaults elsewhere
  const at = (ex: Example): Sizes => Object.fromEntries(Object.entries(ex.sizes).map(([k, v]) => [k, Object.hasOwn(want, k) ? want[k]! : v]));
  const decode = findExample('decode-attention') ?? attention;
  const cases = [{ label: 'decode', example: decode, sizes: decode === attention ? want : at(decode) }];
  const gqa = findExample('gqa-attention');
  if (gqa) cases.push({ label: 'decode GQA', example: gqa, sizes: at(gqa) });
  return cases;
}

const sizesText = (s: Sizes) => Object.entries(s).map(([k, v]) => `${k}=${v}`).join(' ');

/**
 * Knob defaults under which the program's default plan lowers on this device: none when it does;
 * else (an automatic row team whose merge does not fit workgroup memory, as for D = 128 decode)
 * the widest power-of-two team of one row per workgroup that fits. The search starts from there.
 */
function lowerableDefaults(device: WebGpuDevice, program: Program, sizes: Sizes): KnobDefaults | undefined {
  const fits = (defaults: KnobDefaults) => {
    try {
      planFor(device.info, program, sizes, { defaults });
      return true;
    } catch (e) {
      if ((e as Error).name === 'InvalidScheduleError' || (e as Error).name === 'DeviceLimitError') return false;
      throw e;
    }
  };
  if (fits({})) return {};
  for (let t = device.info.limits.maxWorkgroupInvocations; t >= 1; t /= 2) {
    const d = { rows: { threadsPerRow: t, workgroupSize: t } };
    if (fits(d)) return d;
  }
  return undefined;
}

const upload = (exe: Executable, inputs: Record<string, HostTensor>) => {
  for (const t of exe.inputs) exe.upload(t.name, inputs[t.name]!, at(exe));
};

/** A program with dynamic sizes (decode's KV cache length) runs at their bounds here. */
const at = (exe: Executable) => {
  const d = exe.plan.program.dynamic;
  return Object.keys(d).length ? { ...d } : undefined;
};
const dispatch = (exe: Executable) => {
  const sizes = at(exe);
  return exe.dispatch({}, sizes ? { sizes } : {});
};

const timed = (name: string, exe: Executable): Contender => timedExecutable(name, exe, at(exe));

/**
 * O = softmax(Q·Kᵀ/sqrt(D))·V for a few rows, in doubles on the CPU: what every contender's O is
 * checked against before it is timed (a bench comparing different answers would be meaningless).
 * Q, K, V and O are laid out [B, H, rows, D] as in examples/attention.ts; `rows` picks (head, row)
 * pairs spread over the problem.
 */
function referenceRows(inputs: Record<string, HostTensor>, s: { B: number; H: number; N: number; M: number; D: number }, count: number) {
  const [q, k, v] = ['Q', 'K', 'V'].map((n) => inputs[n]!.data as Float32Array);
  const { H, N, M, D } = s;
  const picks: { at: number; o: Float64Array }[] = [];
  const total = s.B * H * N;
  for (let r = 0; r < Math.min(count, total); r++) {
    const row = Math.floor(((r + 0.5) * total) / Math.min(count, total));
    const head = Math.floor(row / N);
    const w = new Float64Array(M);
    let max = -Infinity;
    for (let j = 0; j < M; j++) {
      let dot = 0;
      for (let d = 0; d < D; d++) dot += q![row * D + d]! * k![(head * M + j) * D + d]!;
      w[j] = dot / Math.sqrt(D);
      max = Math.max(max, w[j]!);
    }
    let sum = 0;
    for (let j = 0; j < M; j++) sum += w[j] = Math.exp(w[j]! - max);
    const o = new Float64Array(D);
    for (let j = 0; j < M; j++) for (let e = 0; e < D; e++) o[e] = o[e]! + (w[j]! / sum) * v![(head * M + j) * D + e]!;
    picks.push({ at: row * D, o });
  }
  return (out: ArrayLike<number>) => Math.max(...picks.flatMap(({ at, o }) => [...o].map((x, e) => Math.abs(out[at + e]! - x))));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return a.length === b.length ? d : Infinity;
}

/**
 * A schedule recorded for these sizes, else tuned now (when `tuneNow`), else `borrowed` (tuned for
 * other sizes of the same program: group ids do not depend on sizes) if it lowers at these sizes.
 */
async function scheduleFor(
  ctx: { device: WebGpuDevice; db: Awaited<ReturnType<typeof openDb>>; log: (s: string) => void },
  name: string,
  program: Program,
  sizes: Sizes,
  q: TuningQuestion,
  tuneNow: false | Budget,
  borrowed?: { schedule: ResolvedSchedule; from: string },
): Promise<{ schedule: ResolvedSchedule; source: string } | undefined> {
  if (tuneNow) {
    const t = await tunedSchedule(ctx.db, ctx.device.info, name, program, sizes, tuneNow, ctx.log, q);
    return t && { schedule: t.schedule, source: t.source };
  }
  const recorded = await recordedSchedule(ctx.db, ctx.device.info, program, sizes, q);
  if (recorded) return { schedule: recorded, source: 'database' };
  if (!borrowed) return undefined;
  try {
    planFor(ctx.device.info, program, sizes, { ...q.lowering, schedule: borrowed.schedule });
    return { schedule: borrowed.schedule, source: `tuned at ${borrowed.from}` };
  } catch {
    return undefined;
  }
}


/**
 * Streaming attention (one online-softmax fold kernel) against the three-kernel plan, TF.js's
 * composed attention and a tuned GEMM for prefill; split-KV decode against one workgroup per head
 * and a vec4 copy for decode. Every contender of a case is timed in one interleaved run.
 */
export async function benchAttention(device: WebGpuDevice, o: AttentionBenchOptions, log: (s: string) => void) {
  const db = await openDb(o.db);
  const ctx = { device, db, log };
  const results: Record<string, unknown>[] = [];
  const rows: (string | number)[][] = [];
  const ratioRows: (string | number)[][] = [];
  const program = attention.build('f32');
  // the FMA rate, measured beside every prefill case; the cost model that picks an untuned default
  const probes = await sameRunCeilings(device);
  const model = deviceCostModel(device.info, o.db);
  log(`cost model: ${describeModel(model)}`);

  // the yardstick: the tuned f32 GEMM at 1024³, timed beside every prefill case
  let gemm: { exe: Executable; schedule: string; flops: number } | undefined;
  if (o.gemm && o.prefill.length) {
    const mm = matmul.build('f32');
    const t = o.tune
      ? await tunedSchedule(db, device.info, 'matmul', mm, GEMM_SIZES, o.gemmTuneBudget, log)
      : await recordedSchedule(db, device.info, mm, GEMM_SIZES).then((s) => s && { schedule: s, source: 'database' as const });
    const exe = await Executable.create(device, mm, GEMM_SIZES, t ? { schedule: t.schedule } : {});
    upload(exe, randomInputs(exe.inputs));
    await dispatch(exe); // its warm-up: the prefill cases time it without one
    gemm = { exe, schedule: `${t ? 'tuned' : 'default'}: ${describeSchedule(exe.plan.schedule)}`, flops: 2 * 1024 ** 3 };
  }

  // schedules tuned at the longest prefill length tuned so far, for longer ones
  let streamedFrom: { schedule: ResolvedSchedule; from: string } | undefined;
  let unstreamedFrom: { schedule: ResolvedSchedule; from: string } | undefined;
  for (const N of [...o.prefill].sort((a, b) => a - b)) {
    const { B, H, D } = o.prefillShape;
    const sizes = { B, H, N, M: N, D };
    const label = `prefill N=M=${N}`;
    const tuneNow = o.tune && N <= o.tuneUpTo ? o.tuneBudget : false;
    log(`${label} (B=${B} H=${H} D=${D} f32)`);
    const streamed = await scheduleFor(ctx, 'attention (streamed)', program, sizes, {}, tuneNow, streamedFrom);
    const unstreamed = await scheduleFor(ctx, 'attention (three kernels)', program, sizes, { lowering: THREE_KERNELS }, tuneNow, unstreamedFrom);
    // a schedule tuned for this length (now or before) is the one longer lengths borrow
    const own = (t: { source: string } | undefined) => t !== undefined && !t.source.startsWith('tuned at');
    if (own(streamed)) streamedFrom = { schedule: streamed!.schedule, from: `N=${N}` };
    if (own(unstreamed)) unstreamedFrom = { schedule: unstreamed!.schedule, from: `N=${N}` };

    const flops = 4 * B * H * N * N * D;
    // what any plan must move: Q, K, V read once, O written once
    const bytes = 4 * B * H * N * D * storageBytes('f32', [1]);
    const exes: { row: Row; exe: Executable }[] = [];
    const add = async (name: string, lowering: SpaceLowering, s?: { schedule: ResolvedSchedule; source: string }) => {
      const exe = await Executable.create(device, program, sizes, { ...lowering, ...(s ? { schedule: s.schedule } : {}) });
      try {
        // the three-kernel plan's N x M scores outgrow a storage binding long before the streamed plan does
        checkBufferLimits(exe.plan.tensors, device.info.limits);
      } catch (e) {
        if (!(e instanceof DeviceLimitError)) throw e;
        log(`  ${name}: not run, ${e.message}`);
        exe.destroy();
        return;
      }
      const src = s ? ` (${s.source})` : '';
      exes.push({ row: { name, schedule: describeSchedule(exe.plan.schedule) + src, flops, bytes }, exe });
    };
    await add('three-kernel default', THREE_KERNELS);
    if (unstreamed) await add('three-kernel tuned', THREE_KERNELS, unstreamed);
    await add('streaming default', {});
    const choice = modelSchedule(device.info, program, sizes, model);
    await add('streaming model default', {}, { schedule: choice.schedule, source: `cost model, ${choice.evaluated} schedules predicted` });
    if (streamed) await add('streaming tuned', {}, streamed);
    const inputs = randomInputs(exes[0]!.exe.inputs);
    for (const { exe } of exes) upload(exe, inputs);
    const contenders: Contender[] = exes.map(({ row, exe }) => timed(row.name, exe));
    const others: Row[] = [];

    // each contender runs once before timing: its O is checked, and that run is its warm-up
    const outs = new Map<string, ArrayLike<number>>();
    for (const { row, exe } of exes) {
      await dispatch(exe);
      outs.set(row.name, (await exe.download('O', at(exe))).data);
    }
    let tfInputs: import('@tensorflow/tfjs-core').Tensor[] = [];
    if (o.tfjs) {
      const tf = await tfjsOn(device);
      const shape = [B * H, N, D];
      const [q, k, v] = (tfInputs = ['Q', 'K', 'V'].map((n) => tf.tensor(inputs[n]!.data as Float32Array, shape)));
      const scale = tf.scalar(1 / Math.sqrt(D));
      tfInputs.push(scale);
      const attend = () => tf.matMul(tf.softmax(tf.mul(tf.matMul(q!, k!, false, true), scale)), v!);
      contenders.push(tfjsContender(tf, 'TF.js', attend));
      others.push({ name: 'TF.js', schedule: 'batched matMul, mul, softmax, batched matMul', flops, bytes });
      const out = tf.tidy(attend);
      outs.set('TF.js', await out.data());
      out.dispose();
    }
    const error = referenceRows(inputs, sizes, 16);
    const agreement = Object.fromEntries([...outs].map(([k, v]) => [k, error(v)]));
    log(`  largest |O - reference| over 16 rows: ${Object.entries(agreement).map(([k, v]) => `${k} ${v.toExponential(1)}`).join(', ')}`);
    contenders.push(...probes.contenders);
    if (gemm) {
      contenders.push(timed('GEMM 1024³ f32', gemm.exe));
      others.push({ name: 'GEMM 1024³ f32', schedule: gemm.schedule, flops: gemm.flops });
    }
    const rounds = N <= o.tuneUpTo ? o.rounds : o.roundsLong;
    log(`  measuring ${contenders.map((c) => c.name).join(', ')} (${rounds} rounds)`);
    // the checked run above was every contender's warm-up
    const m = await interleaved(contenders, rounds, 0);
    for (const { exe } of exes) exe.destroy();
    for (const t of tfInputs) t.dispose();

    const all = [...exes.map((e) => e.row), ...others];
    const lines = all.map((r) => resultOf(r, m.get(r.name)));
    for (const l of lines) rows.push([label, l.name, l.schedule, fmtMs(m.get(l.name)), l.gflops?.toFixed(2) ?? 'n/a', l.gbPerSecond?.toFixed(2) ?? 'n/a']);
    const ms = (k: string) => m.get(k)?.medianMs;
    const streaming = ms('streaming tuned') ?? ms('streaming default')!;
    const streamingName = ms('streaming tuned') !== undefined ? 'streaming tuned' : 'streaming default';
    const threeName = ['three-kernel tuned', 'three-kernel default'].filter((k) => ms(k) !== undefined).reduce<string | undefined>((a, b) => (a === undefined || ms(b)! < ms(a)! ? b : a), undefined);
    const speedup = (k: string | undefined) => (k !== undefined && ms(k) !== undefined ? ms(k)! / streaming : undefined);
    const gemmGflops = gemm && ms('GEMM 1024³ f32') !== undefined ? gemm.flops / (ms('GEMM 1024³ f32')! * 1e-3) : undefined;
    const ratios = {
      streamingOverThreeKernel: speedup(threeName),
      streamingOverTfjs: speedup('TF.js'),
      streamingGflopsOverGemm: gemmGflops ? flops / (streaming * 1e-3) / gemmGflops : undefined,
      streamingTunedOverDefault: ms('streaming tuned') !== undefined ? ms('streaming default')! / streaming : undefined,
      streamingTunedOverModel: ms('streaming tuned') !== undefined ? ms('streaming model default')! / streaming : undefined,
      streamingOfFmaPeak: probes.fmaGflops(m) ? flops / (streaming * 1e-3) / 1e9 / probes.fmaGflops(m)! : undefined,
      defaultOfFmaPeak: probes.fmaGflops(m) ? flops / (ms('streaming default')! * 1e-3) / 1e9 / probes.fmaGflops(m)! : undefined,
      modelOfFmaPeak: probes.fmaGflops(m) ? flops / (ms('streaming model default')! * 1e-3) / 1e9 / probes.fmaGflops(m)! : undefined,
    };
    ratioRows.push(
      [label, `${streamingName} vs ${threeName ?? 'the three-kernel plan (does not fit)'} (speed-up)`, times(ratios.streamingOverThreeKernel), '>= 4x', verdict(ratios.streamingOverThreeKernel, 4)],
      [label, `${streamingName} vs TF.js (speed-up)`, times(ratios.streamingOverTfjs), '>= 5x', verdict(ratios.streamingOverTfjs, 5)],
      [label, `${streamingName} GFLOP/s / GEMM 1024³ GFLOP/s`, pct(ratios.streamingGflopsOverGemm), '>= 80%', verdict(ratios.streamingGflopsOverGemm, 0.8)],
      [label, 'streaming tuned vs streaming default (speed-up)', times(ratios.streamingTunedOverDefault), '', ''],
      [label, 'streaming tuned vs the cost model\'s default (speed-up)', times(ratios.streamingTunedOverModel), '<= 1.5x', ratios.streamingTunedOverModel === undefined ? '' : ratios.streamingTunedOverModel <= 1.5 ? 'yes' : 'no'],
      [label, `GFLOP/s / FMA peak (same run): ${streamingName}, default, model default`, `${pct(ratios.streamingOfFmaPeak)}, ${pct(ratios.defaultOfFmaPeak)}, ${pct(ratios.modelOfFmaPeak)}`, '', ''],
    );
    results.push({ case: label, sizes, flops, bytes, rounds, agreement, contenders: lines, ratios: { ...ratios, threeKernelBaseline: threeName, streaming: streamingName } });
  }
  gemm?.exe.destroy();
  probes.destroy();

  for (const c of o.decode ? decodeCases(o.decode) : []) {
    const dprogram = c.example.build('f32');
    const label = `${c.label} ${sizesText(c.sizes)}`;
    log(label);
    const defaults = lowerableDefaults(device, dprogram, c.sizes);
    if (!defaults) {
      log(`  skipped: no row team of one row per workgroup lowers on this device`);
      continue;
    }
    const fitted = Object.keys(defaults).length > 0;
    if (fitted) log(`  the default schedule does not lower here (the automatic row team's merge does not fit workgroup memory); defaults ${JSON.stringify(defaults)} instead`);
    const lowering: SpaceLowering = fitted ? { defaults } : {};
    const plan = planFor(device.info, dprogram, c.sizes, lowering);
    const fold = plan.groups.find((g) => g.kind === 'rows');
    const length = fold?.extents['length'] ?? 1;
    // splitSteps values past 1, as far as the search space offers them
    const splits: number[] = [];
    for (let s = 2; s <= Math.min(64, Math.floor(length / 256)); s *= 2) splits.push(s);
    const tuneNow = o.tune ? o.decodeTuneBudget : false;
    const split = splits.length ? await scheduleFor(ctx, `${c.example.name} (split-KV)`, dprogram, c.sizes, { lowering, restrict: { splitSteps: splits } }, tuneNow) : undefined;
    const perHead = await scheduleFor(ctx, `${c.example.name} (one workgroup per head)`, dprogram, c.sizes, { lowering, restrict: { splitSteps: [1] } }, tuneNow);

    const kv = plan.tensors.filter((t) => t.role === 'input' && (t.name === 'K' || t.name === 'V'));
    const kvBytes = (kv.length ? kv : plan.tensors.filter((t) => t.role === 'input' && t.name !== 'Q')).reduce((a, t) => a + storageBytes(t.dtype, t.shape), 0);
    const exes: { row: Row; exe: Executable }[] = [];
    const add = async (name: string, s?: { schedule: ResolvedSchedule; source: string }) => {
      const exe = await Executable.create(device, dprogram, c.sizes, { ...lowering, ...(s ? { schedule: s.schedule } : {}) });
      const src = s ? ` (${s.source})` : fitted ? ' (the automatic row team does not fit here)' : '';
      exes.push({ row: { name, schedule: describeSchedule(exe.plan.schedule) + src, bytes: kvBytes }, exe });
    };
    await add('default');
    if (split) await add('split-KV tuned', split);
    if (perHead) await add('one WG per head tuned', perHead);
    const inputs = randomInputs(exes[0]!.exe.inputs);
    for (const { exe } of exes) upload(exe, inputs);
    const outs = new Map<string, ArrayLike<number>>();
    for (const { row, exe } of exes) {
      await dispatch(exe);
      outs.set(row.name, (await exe.download('O', at(exe))).data);
    }
    // the reference rows assume examples/attention.ts's layout; another example is checked against the default plan
    const asAttention = c.example === attention;
    const ref = outs.get('default')!;
    const error = asAttention ? referenceRows(inputs, c.sizes as { B: number; H: number; N: number; M: number; D: number }, 8) : (v: ArrayLike<number>) => maxAbsDiff(v, ref);
    const agreement = Object.fromEntries([...outs].map(([k, v]) => [k, error(v)]));
    log(`  largest |O - ${asAttention ? 'reference| over 8 rows' : 'O(default)|'}: ${Object.entries(agreement).map(([k, v]) => `${k} ${v.toExponential(1)}`).join(', ')}`);

    // the copy moves as many bytes as decode reads: K and V's worth, half read, half written
    const n = Math.floor(kvBytes / 2 / 4);
    const copyQ: TuningQuestion = { restrict: { vectorWidth: [4] } };
    const copyTuned = o.tune ? await tunedSchedule(db, device.info, 'copy (vec4)', copyProgram, { n }, o.copyTuneBudget, log, copyQ) : undefined;
    const copy = await Executable.create(device, copyProgram, { n }, copyTuned ? { schedule: copyTuned.schedule } : { defaults: { elementwise: { vectorWidth: 4 } } });
    copy.upload('X', randomInputs(copy.inputs).X!);
    const copyRow: Row = { name: 'copy vec4', schedule: `${describeSchedule(copy.plan.schedule)}${copyTuned ? ` (${copyTuned.source})` : ''}`, bytes: 2 * n * 4 };

    const contenders = [...exes.map(({ row, exe }) => timed(row.name, exe)), timed(copyRow.name, copy)];
    log(`  measuring ${contenders.map((k) => k.name).join(', ')} (${o.rounds} rounds)`);
    await copy.dispatch();
    const m = await interleaved(contenders, o.rounds, 0);
    for (const { exe } of exes) exe.destroy();
    copy.destroy();

    const lines = [...exes.map((e) => e.row), copyRow].map((r) => resultOf(r, m.get(r.name)));
    for (const l of lines) rows.push([label, l.name, l.schedule, fmtMs(m.get(l.name)), 'n/a', l.gbPerSecond?.toFixed(2) ?? 'n/a']);
    const gb = (k: string) => lines.find((l) => l.name === k)?.gbPerSecond ?? undefined;
    const ms = (k: string) => m.get(k)?.medianMs;
    const ratios = {
      splitKvOverCopy: gb('split-KV tuned') !== undefined && gb('copy vec4') !== undefined ? gb('split-KV tuned')! / gb('copy vec4')! : undefined,
      perHeadOverCopy: gb('one WG per head tuned') !== undefined && gb('copy vec4') !== undefined ? gb('one WG per head tuned')! / gb('copy vec4')! : undefined,
      splitKvOverPerHead: ms('split-KV tuned') !== undefined && ms('one WG per head tuned') !== undefined ? ms('one WG per head tuned')! / ms('split-KV tuned')! : undefined,
    };
    ratioRows.push(
      [label, 'split-KV K,V GB/s / copy vec4 GB/s', pct(ratios.splitKvOverCopy), '>= 60%', verdict(ratios.splitKvOverCopy, 0.6)],
      [label, 'one WG per head K,V GB/s / copy vec4 GB/s', pct(ratios.perHeadOverCopy), '', ''],
      [label, 'split-KV vs one WG per head (speed-up)', times(ratios.splitKvOverPerHead), '>= 4x', verdict(ratios.splitKvOverPerHead, 4)],
    );
    results.push({ case: label, sizes: c.sizes, example: c.example.name, kvBytes, copyBytes: 2 * n * 4, fittedDefaults: fitted ? defaults : null, agreement, contenders: lines, ratios });
  }
  if (o.decode && !findExample('gqa-attention')) log('decode GQA: skipped (no gqa-attention example registered in examples/index.ts)');

  printTable(['case', 'contender', 'schedule', 'ms (median ±spread)', 'GFLOP/s', 'GB/s'], rows);
  printTable(['case', 'ratio', 'measured', 'target', 'met'], ratioRows);
  console.log(
    'GFLOP/s: 4·B·H·N·M·D / time (GEMM: 2·M·N·K). GB/s: prefill, Q, K, V read and O written once; decode, K and V read; copy, bytes read and written.',
  );
  return results;
}
