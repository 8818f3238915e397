/**
 * Differential testing: random well-typed programs, compiled with random schedules for the WebGPU
 * device, must agree with the CPU reference (`evaluate`).
 *
 * Programs come from three families:
 * - `randomProgram` (test/helpers/naive.ts): elementwise chains, nested reductions, every view;
 * - contractions with prologues (casts from f16, int8 / int4 dequantization with group scales,
 *   a sliced or transposed operand) and epilogues (bias, activation, a cast to f16, a permuted
 *   output);
 * - row normalizations (softmax, log-softmax, layernorm, rmsnorm) over random row lengths.
 *
 * Each program is compiled with its default schedule and a few random points of its search
 * space (plus, sometimes, a knob value off the search space's ranges, or random grouping and
 * per-kind defaults). An InvalidScheduleError is counted and skipped; any other error, or an
 * output outside the tolerance, is a failure reported with its seed and the printed program.
 *
 * TILECRAFT_PROPERTY_RUNS sets the number of programs (default: a quick run for the normal suite),
 * TILECRAFT_PROPERTY_SEED the first seed (program n uses seed + n), TILECRAFT_PROPERTY_MINUTES a time
 * limit after which a long run stops early (counting what it ran).
 */
import { describe, expect, it } from 'vitest';
import { searchSpace } from '../../src/autotune/space.js';
import { gelu, layernorm, logSoftmax, rmsnorm, silu, softmax } from '../../src/dsl/ops.js';
import { type ProgramBuilder, program as buildProgram } from '../../src/dsl/program.js';
import type { Tensor } from '../../src/dsl/tensor.js';
import { bindProgram, shapeOf } from '../../src/ir/bind.js';
import type { DType } from '../../src/ir/dtype.js';
import { type HostTensor, fromValues, randomHost, rng } from '../../src/ir/host.js';
import { type IntLike } from '../../src/ir/intexpr.js';
import { printProgram } from '../../src/ir/print.js';
import type { Program } from '../../src/ir/tensor.js';
import { InvalidScheduleError, type KnobDefaults, type Schedule } from '../../src/passes/schedule.js';
import { evaluate } from '../../src/reference/evaluate.js';
import { type CompileOptions, Executable } from '../../src/runtime/executable.js';
import type { WebGpuDevice } from '../../src/runtime/webgpu.js';
import { type Tolerance, gpu, mismatch, toleranceFor } from '../helpers/device.js';
import { randomProgram } from '../helpers/naive.js';

const RUNS = Number(process.env.TILECRAFT_PROPERTY_RUNS ?? 15);
/** Stop early after this many minutes (for a long run that must fit a time slot). */
const MINUTES = Number(process.env.TILECRAFT_PROPERTY_MINUTES ?? Infinity);
const SEED = Number(process.env.TILECRAFT_PROPERTY_SEED ?? 7340001);
/** Random schedules per program, on top of the default one. */
const SCHEDULES = Number(process.env.TILECRAFT_PROPERTY_SCHEDULES ?? 2);

interface Case {
  readonly family: string;
  readonly program: Program;
  readonly sizes: Readonly<Record<string, number>>;
  readonly inputs: Readonly<Record<string, HostTensor>>;
  /** Tolerance by output dtype. */
  readonly tol: (dtype: DType) => Tolerance;
}

type F = Tensor<'f32', string>;

/** Inputs for every input of a program: random values of its dtype (floats in [-1, 1)). */
function randomInputs(p: Program, sizes: Readonly<Record<string, number>>, seed: number): Record<string, HostTensor> {
  const bound = bindProgram(p, sizes);
  const out: Record<string, HostTensor> = {};
  bound.inputs.forEach((t, i) => {
    out[t.name] = randomHost(t.dtype, shapeOf(t), seed * 31 + i);
  });
  return out;
}

function fromRandomProgram(seed: number): Case {
  const rp = randomProgram(seed, { continuous: true, maxSize: 6 });
  const bound = bindProgram(rp.program, rp.sizes);
  const inputs: Record<string, HostTensor> = {};
  for (const t of bound.inputs) inputs[t.name] = fromValues(t.dtype, shapeOf(t), rp.inputs[t.name]!);
  const tol = (d: DType) => (d === 'f32' ? { rtol: 1e-4, atol: 1e-5 } : toleranceFor(d));
  return { family: `elementwise/reduce/view (${rp.ops.join(' ')})`, program: rp.program, sizes: rp.sizes, inputs, tol };
}

function contraction(seed: number): Case {
  const r = rng(seed);
  const pick = <X>(xs: readonly X[]): X => xs[Math.floor(r() * xs.length)]!;
  const chance = (p: number) => r() < p;
  const weights = pick(['f32', 'f32', 'f16', 'i8', 'u4', 'i4'] as const);
  const lowbit = weights === 'i8' || weights === 'u4' || weights === 'i4';
  const G = lowbit ? pick([1, 2, 4, 8]) : 1;
  const M = 1 + Math.floor(r() * 40);
  const N = 1 + Math.floor(r() * 40);
  const K = lowbit ? G * (1 + Math.floor(r() * (32 / G))) : 1 + Math.floor(r() * 48);
  const symbolic = chance(0.5);
  const xDtype = weights === 'f16' ? 'f16' : pick(['f32', 'f32', 'f16'] as const);
  const transposedW = chance(0.5);
  const transposedX = chance(0.3);
  const slicedX = !transposedX && chance(0.3);
  const bias = chance(0.6);
  const act = pick(['none', 'relu', 'tanh', 'sigmoid', 'silu', 'gelu'] as const);
  const outF16 = xDtype === 'f32' && chance(0.2);
  const outOrder = chance(0.3) ? ['n', 'm'] : ['m', 'n'];
  const allF16 = weights === 'f16' && xDtype === 'f16';
  const desc = [
    `W ${weights}${transposedW ? '[n,k]' : '[k,n]'}${lowbit ? ` G=${G}` : ''}`,
    `X ${xDtype}${transposedX ? ' transposed' : ''}${slicedX ? ' sliced' : ''}`,
    ...(bias ? ['bias'] : []),
    act,
    ...(outF16 ? ['-> f16'] : []),
    `out[${outOrder}]`,
  ].join(', ');
  const sizes = { M, N, K, G, KG: K / G };
  const program = buildProgram(`contraction${seed}`, (b: ProgramBuilder) => {
    const sz = (name: 'M' | 'N' | 'K' | 'KG'): IntLike => (symbolic ? b.size(name) : sizes[name]);
    const sizeK = sz('K');
    let x: F;
    if (transposedX) x = b.input('X', xDtype, { k: sizeK, m: sz('M') }).permute('m', 'k') as unknown as F;
    else if (slicedX) x = b.input('X', xDtype, { m: sz('M'), k: K + 3 }).slice('k', 2, K + 2) as unknown as F;
    else x = b.input('X', xDtype, { m: sz('M'), k: sizeK }) as unknown as F;
    let w: F;
    const wIn = (dt: DType) => (transposedW ? b.input('W', dt as 'f32', { n: sz('N'), k: sizeK }) : b.input('W', dt as 'f32', { k: sizeK, n: sz('N') }));
    if (lowbit) {
      const s = b.input('S', 'f32', { n: sz('N'), kg: sz('KG') });
      let q = wIn(weights).cast('f32') as unknown as F;
      if (weights === 'u4') q = q.sub(8) as F;
      w = q.split('k', { kg: sz('KG'), ki: G }).mul(s).merge(['kg', 'ki'], 'k') as F;
    } else w = wIn(weights) as unknown as F;
    let prod: F;
    if (allF16) prod = x.mul(w).sum('k') as F;
    else {
      const xf = (xDtype === 'f16' ? x.cast('f32') : x) as F;
      const wf = (weights === 'f16' ? w.cast('f32') : w) as F;
      prod = xf.mul(wf).sum('k') as F;
    }
    let y = prod;
    if (bias) y = y.add(b.input('B', allF16 ? 'f16' : 'f32', { n: sz('N') }) as unknown as F) as F;
    if (act === 'relu') y = y.max(0) as F;
    else if (act === 'tanh') y = y.tanh() as F;
    else if (act === 'sigmoid') y = y.sigmoid() as F;
    else if (act === 'silu') y = silu(y) as F;
    else if (act === 'gelu') y = gelu(y) as F;
    if (outF16) y = y.cast('f16') as unknown as F;
    b.output('Y', y, outOrder);
  });
  const given = symbolic ? Object.fromEntries(program.sizes.map((k) => [k, sizes[k as keyof typeof sizes]])) : {};
  const tol = (d: DType) => (d === 'f32' ? { rtol: 1e-4, atol: 1e-4 } : d === 'f16' ? { rtol: 1e-2, atol: 1e-2 } : toleranceFor(d));
  return { family: `contraction (${desc})`, program, sizes: given, inputs: randomInputs(program, given, seed), tol };
}

function normalization(seed: number): Case {
  const r = rng(seed);
  const pick = <X>(xs: readonly X[]): X => xs[Math.floor(r() * xs.length)]!;
  const rows = 1 + Math.floor(r() * 12);
  const D = pick([1, 3, 17, 32, 64, 100, 257, 1200]);
  const op = pick(['softmax', 'logSoftmax', 'layernorm', 'rmsnorm'] as const);
  const dtype = pick(['f32', 'f32', 'f16'] as const);
  const symbolic = r() < 0.5;
  const sizes = { R: rows, D };
  const program = buildProgram(`norm${seed}`, (b: ProgramBuilder) => {
    const x = b.input('X', dtype, { r: symbolic ? b.size('R') : rows, d: symbolic ? b.size('D') : D }) as unknown as F;
    let y: F;
    if (op === 'softmax') y = softmax(x, 'd');
    else if (op === 'logSoftmax') y = logSoftmax(x, 'd');
    else if (op === 'layernorm') y = layernorm(x, 'd');
    else y = rmsnorm(x, 'd');
    b.output('Y', y);
  });
  const given = symbolic ? sizes : {};
  const tol = (d: DType) => (d === 'f32' ? { rtol: 1e-4, atol: 1e-5 } : { rtol: 2e-2, atol: 5e-3 });
  return { family: `normalization (${op} ${dtype} ${rows}x${D})`, program, sizes: given, inputs: randomInputs(program, given, seed), tol };
}

function randomCase(seed: number): Case {
  switch (seed % 3) {
    case 0:
      return fromRandomProgram(seed);
    case 1:
      return contraction(seed);
    default:
      return normalization(seed);
  }
}

type KnobValue = number | boolean | string;

/**
 * Knob values off the search space's ranges: lowering must refuse the impossible ones with
 * InvalidScheduleError (a workgroupSize or splitSteps of 0 and a vectorWidth of 3, 5 or 6 once
 * reached the kernel verifier or the shader compiler).
 */
const OFF_RANGE = [3, 5, 6, 12, 48, 0];
const offRangeOk = (_group: string, _knob: string) => true;

/** Compile options for one try: a random point of the search space, sometimes with an off-range knob, or random grouping and per-kind defaults. */
function randomOptions(device: WebGpuDevice, c: Case, r: () => number): CompileOptions {
  const pick = <X>(xs: readonly X[]): X => xs[Math.floor(r() * xs.length)]!;
  if (r() < 0.2) {
    const defaults: KnobDefaults = {
      elementwise: { workgroupSize: pick([16, 32, 64, 256]), vectorWidth: pick([1, 2, 4]) },
      serial: { workgroupSize: pick([16, 32, 64]) },
      rows: { workgroupSize: pick([8, 32, 64, 128]), threadsPerRow: pick([0, 1, 2, 4, 8, 16]) },
    };
    return { grouping: { cooperativeMinLength: pick([1, 2, 4, 8, 32]) }, defaults };
  }
  const space = searchSpace(device.info, c.program, c.sizes);
  const schedule: Record<string, Record<string, KnobValue>> = {};
  for (const d of space.dims) (schedule[d.group] ??= {})[d.knob] = pick(d.values);
  if (r() < 0.15 && space.dims.length) {
    // a value no search would try: lowering must refuse it with InvalidScheduleError or run it correctly
    const d = pick(space.dims);
    const v = d.values[0];
    if (offRangeOk(d.group, d.knob)) (schedule[d.group] ??= {})[d.knob] = typeof v === 'number' ? pick(OFF_RANGE) : v!;
  }
  return { schedule: schedule as Schedule };
}

function describeOptions(o: CompileOptions): string {
  return JSON.stringify(o.schedule ? { schedule: o.schedule } : o.grouping || o.defaults ? { grouping: o.grouping, defaults: o.defaults } : 'default');
}

describe('differential testing: random programs and schedules on WebGPU against the reference', () => {
  it(`${RUNS} random programs from seed ${SEED}`, async () => {
    const device = await gpu();
    const failures: string[] = [];
    let programs = 0;
    let compiled = 0;
    let invalid = 0;
    const families: Record<string, number> = {};
    const start = performance.now();
    for (let n = 0; n < RUNS; n++) {
      const seed = SEED + n;
      let c: Case;
      try {
        c = randomCase(seed);
      } catch (e) {
        failures.push(`seed ${seed}: building the program threw ${String((e as Error)?.stack ?? e)}`);
        continue;
      }
      programs++;
      const fam = c.family.split(' ')[0]!;
      families[fam] = (families[fam] ?? 0) + 1;
      const report = (what: string, options: CompileOptions) =>
        `seed ${seed} (${c.family}), sizes ${JSON.stringify(c.sizes)}, options ${describeOptions(options)}:\n  ${what}\n${printProgram(c.program)}`;
      let expected: Record<string, HostTensor>;
      try {
        expected = evaluate(c.program, c.sizes, c.inputs).outputs;
      } catch (e) {
        failures.push(report(`the reference threw ${String((e as Error)?.stack ?? e)}`, {}));
        continue;
      }
      const r = rng(seed ^ 0x5bd1e995);
      const tries: CompileOptions[] = [{}];
      for (let s = 0; s < SCHEDULES; s++) {
        try {
          tries.push(randomOptions(device, c, r));
        } catch (e) {
          failures.push(report(`searchSpace threw ${String((e as Error)?.stack ?? e)}`, {}));
        }
      }
      for (const options of tries) {
        let exe: Executable | undefined;
        try {
          exe = await Executable.create(device, c.program, c.sizes, options);
          compiled++;
          const { outputs } = await exe.run(c.inputs);
          for (const [name, want] of Object.entries(expected)) {
            const tol = c.tol(want.dtype);
            const m = mismatch(outputs[name]!, want, tol);
            if (m) failures.push(report(`${name}[${m.index}]: got ${m.actual}, expected ${m.expected} (${m.why}, rtol ${tol.rtol}, atol ${tol.atol})`, options));
          }
        } catch (e) {
          if (e instanceof InvalidScheduleError) invalid++;
          else failures.push(report(`threw ${String((e as Error)?.stack ?? e)}`, options));
        } finally {
          exe?.destroy();
        }
      }
      if (failures.length >= 20 || performance.now() - start > MINUTES * 60000) break;
    }
    const minutes = (performance.now() - start) / 60000;
    console.log(
      `differential: ${programs} programs (${Object.entries(families).map(([k, v]) => `${k} ${v}`).join(', ')}), ` +
        `${compiled} schedules compiled and run, ${invalid} invalid schedules skipped, ${failures.length} failures ` +
        `in ${(minutes * 60).toFixed(1)} s: ${(programs / minutes).toFixed(1)} programs/min, ${(compiled / minutes).toFixed(1)} schedules/min (seeds ${SEED}..${SEED + programs - 1})`,
    );
    expect(failures, failures.join('\n\n')).toEqual([]);
  }, 3_600_000);
});
