import { describe, expect, it } from 'vitest';
import { dot, gelu, geluTanh, layernorm, logSoftmax, rmsnorm, silu, softmax } from '../../src/dsl/ops.js';
import { program } from '../../src/dsl/program.js';
import { ProgramError, ShapeError, TilecraftError } from '../../src/ir/errors.js';
import { structuralHash } from '../../src/ir/hash.js';
import { type HostTensor, fromValues, randomHost, toValues } from '../../src/ir/host.js';
import { type KStmt, kconst, kmapStmts } from '../../src/ir/kernel.js';
import { iadd, idiv, imod, int, isub, ivar } from '../../src/ir/intexpr.js';
import { type Program, binary, load } from '../../src/ir/tensor.js';
import { type LowerOptions, type TargetLimits, WEBGPU_BASELINE_LIMITS, groupIds, lower } from '../../src/passes/pipeline.js';
import { DEFAULT_KNOBS, InvalidScheduleError } from '../../src/passes/schedule.js';
import { verifyKernel } from '../../src/passes/verify-kernel.js';
import { evaluate } from '../../src/reference/evaluate.js';
import { firstMismatch, randomProgram, runPlan } from '../helpers/naive.js';

/** Runs lower(p)'s kernels in the kernel-IR interpreter and compares every output with the reference. */
function expectMatchesReference(
  p: Program,
  sizes: Readonly<Record<string, number>>,
  inputs: Readonly<Record<string, HostTensor>>,
  options: LowerOptions = {},
  tol: { rtol: number; atol: number } = { rtol: 2e-5, atol: 2e-6 },
  subgroupSize = 32,
  limits: Partial<TargetLimits> = {},
) {
  const plan = lower(p, sizes, options, { ...WEBGPU_BASELINE_LIMITS, ...limits });
  const ref = evaluate(p, sizes, inputs);
  const values = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, toValues(v)]));
  const mem = runPlan(plan, values, { subgroupSize });
  for (const o of p.outputs) {
    const want = ref.values[o]!;
    const bad = firstMismatch(mem[o]!, want, tol.rtol, tol.atol);
    expect(bad, `${o}[${bad}]: kernels give ${mem[o]![bad]}, reference ${want[bad]} (${plan.kernels.map((k) => k.name).join(', ')})`).toBe(-1);
  }
  return plan;
}

describe('lower: the plan', () => {
  const p = program('plan', (b) => {
    const [N, D] = [b.size('N'), b.size('D')];
    const x = b.input('X', 'f32', { i: N, j: D });
    const m = b.let('M', x.max('j'));
    b.output('Y', x.sub(m).exp());
    b.output('Z', m.at('i', 0));
  });

  it('names every pass in order', () => {
    const plan = lower(p, { N: 3, D: 40 });
    const passes = plan.trace.map((t) => t.pass);
    const order = ['hoist-reductions', 'bind-sizes', 'inline-elementwise', 'group', 'emit'];
    expect(passes.filter((x) => order.includes(x))).toEqual(order);
    expect(plan.trace.find((t) => t.pass === 'bind-sizes')!.note).toBe('N=3 D=40');
    expect(plan.trace.find((t) => t.pass === 'group')!.note).toBe('rows(M, Y); elementwise(Z)');
  });

  it('lists inputs, outputs and the intermediates kernels exchange, with shapes', () => {
    const plan = lower(p, { N: 3, D: 40 });
    expect(plan.tensors.map((t) => `${t.role} ${t.name}: ${t.dtype}[${t.shape.join(', ')}]`)).toEqual([
      'input X: f32[3, 40]',
      'temp M: f32[3]',
      'output Y: f32[3, 40]',
      'output Z: f32[]',
    ]);
    expect(plan.program.bound).toEqual({ N: 3, D: 40 });
    expect(plan.kernels.map((k) => k.name)).toEqual(['plan_0_rows', 'plan_1_elementwise']);
    for (const k of plan.kernels) expect(() => verifyKernel(k)).not.toThrow();
  });

  it('drops an intermediate that stays inside one kernel', () => {
    const q = program('inner', (b) => {
      const x = b.input('X', 'f32', { i: 3, j: 40 });
      const m = b.let('M', x.max('j'));
      b.output('Y', x.sub(m).exp());
    });
    expect(lower(q, {}).tensors.map((t) => t.name)).toEqual(['X', 'Y']);
  });

  it('is deterministic, and replaying its recorded schedule rebuilds the same kernels', () => {
    const a = lower(p, { N: 3, D: 40 }, { defaults: { rows: { workgroupSize: 64 } } });
    const b = lower(p, { N: 3, D: 40 }, { defaults: { rows: { workgroupSize: 64 } } });
    expect(a.kernels.map((k) => structuralHash(k))).toEqual(b.kernels.map((k) => structuralHash(k)));
    const replay = lower(p, { N: 3, D: 40 }, { schedule: a.schedule });
    expect(replay.kernels.map((k) => structuralHash(k))).toEqual(a.kernels.map((k) => structuralHash(k)));
    expect(replay.schedule).toEqual(a.schedule);
  });

  it('reports bad sizes with typed errors before emitting anything', () => {
    expect(() => lower(p, { N: 3 })).toThrow(ProgramError);
    expect(() => lower(p, { N: 3 })).toThrow('program plan needs size D; pass it, e.g. { D: 128 }');
    expect(() => lower(p, { N: 0, D: 4 })).toThrow(ShapeError);
  });

  it('rejects schedule knobs that do not exist or do not fit, naming the group', () => {
    expect(() => lower(p, { N: 3, D: 40 }, { schedule: { 'rows:M,Y': { kind: 'serial' } } })).toThrow(TilecraftError);
    expect(() => lower(p, { N: 3, D: 40 }, { schedule: { 'rows:M,Y': { kind: 'serial' } } })).toThrow(/group rows:M,Y is a rows group/);
    expect(() => lower(p, { N: 3, D: 40 }, { schedule: { 'elementwise:Z': { bogus: 1 } as never } })).toThrow(/group elementwise:Z \(elementwise\) has no knob bogus/);
    // a position, as schedules were keyed once, or a group of another grouping
    expect(() => lower(p, { N: 3, D: 40 }, { schedule: { '0': { workgroupSize: 64 } } })).toThrow(/has group 0, but this plan's groups are rows:M,Y, elementwise:Z/);
    expect(() => lower(p, { N: 3, D: 40 }, { schedule: { 'elementwise:Y': {} } })).toThrow(InvalidScheduleError);
    // a schedule where the options go, or a knob of the old options bag
    expect(() => lower(p, { N: 3, D: 40 }, { 'elementwise:Z': { workgroupSize: 64 } } as never)).toThrow(/lower: no option elementwise:Z/);
    expect(() => lower(p, { N: 3, D: 40 }, { rowWorkgroupSize: 64 } as never)).toThrow(/lower: no option rowWorkgroupSize/);
  });

  it('names each group by its kind and the tensors it computes, not by its position', () => {
    expect(lower(p, { N: 3, D: 40 }).groups.map((g) => g.id)).toEqual(['rows:M,Y', 'elementwise:Z']);
    // M's reduction too short to share: M gets a serial group of its own, Y an elementwise one,
    // and Z, now third, keeps its id and the knobs a schedule gives it
    const schedule = { 'elementwise:Z': { workgroupSize: 32 } };
    const regrouped = lower(p, { N: 3, D: 40 }, { grouping: { cooperativeMinLength: 1000 }, schedule });
    expect(regrouped.groups.map((g) => g.id)).toEqual(['serial:M', 'elementwise:Y', 'elementwise:Z']);
    expect(regrouped.schedule['elementwise:Z']).toMatchObject({ workgroupSize: 32 });
    expect(regrouped.schedule['elementwise:Y']).toMatchObject({ workgroupSize: 256 });
    expect(regrouped.kernels[2]!.workgroup[0]).toBe(32);
  });

  it('takes knobs from DEFAULT_KNOBS, under defaults per kind, under the schedule per group', () => {
    const plain = lower(p, { N: 3, D: 40 }, { grouping: { cooperativeMinLength: 1000 } });
    expect(plain.schedule['elementwise:Y']).toEqual(DEFAULT_KNOBS.elementwise);
    const plan = lower(p, { N: 3, D: 40 }, {
      grouping: { cooperativeMinLength: 1000 },
      defaults: { elementwise: { workgroupSize: 64, vectorWidth: 1 } },
      schedule: { 'elementwise:Z': { workgroupSize: 32 } },
    });
    expect(plan.schedule['elementwise:Y']).toEqual({ kind: 'elementwise', workgroupSize: 64, vectorWidth: 1 });
    expect(plan.schedule['elementwise:Z']).toEqual({ kind: 'elementwise', workgroupSize: 32, vectorWidth: 1 });
    expect(plan.schedule['serial:M']).toEqual(DEFAULT_KNOBS.serial);
  });

  it('tells apart groups that would share an id, deterministically, in plan order', () => {
    const ids = groupIds([
      { kind: 'elementwise', computes: ['Y'] },
      { kind: 'rows', computes: ['S_max', 'S'] },
      { kind: 'elementwise', computes: ['Y'] },
      { kind: 'elementwise', computes: ['Y'] },
    ]);
    expect(ids).toEqual(['elementwise:Y', 'rows:S_max,S', 'elementwise:Y#2', 'elementwise:Y#3']);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('lowered kernels compute what the reference computes (kernel-IR interpreter)', () => {
  const SEEDS = Array.from({ length: 60 }, (_, k) => 90001 + k * 577);
  for (const seed of SEEDS) {
    it(`random program ${seed}`, () => {
      const rp = randomProgram(seed, { continuous: true });
      const inputs: Record<string, HostTensor> = {};
      for (const t of rp.program.inputs) {
        const shape = t.axes.map((a) => (a.size.op === 'int' ? a.size.value : rp.sizes[(a.size as { name: string }).name]!));
        inputs[t.name] = fromValues(t.dtype, shape, rp.inputs[t.name]!);
      }
      // small workgroups and cooperative reductions of any length, so every kernel kind runs
      const opts: LowerOptions = {
        grouping: { cooperativeMinLength: 2 },
        defaults: { elementwise: { workgroupSize: 16, vectorWidth: seed % 3 === 0 ? 1 : 4 }, serial: { workgroupSize: 16 }, rows: { workgroupSize: 8 } },
      };
      const tol = rp.dtype === 'f32' ? { rtol: 1e-4, atol: 1e-5 } : { rtol: 0, atol: 0 };
      expectMatchesReference(rp.program, rp.sizes, inputs, opts, tol);
    });
  }

  const rows = (N: number, D: number) => ({ X: randomHost('f32', [N, D], N * 31 + D, [-4, 4]) });

  for (const [rowKnobs, label] of [
    [{}, 'defaults'],
    [{ threadsPerRow: 4, workgroupSize: 16 }, '4 threads per row, 4 rows per workgroup'],
    [{ threadsPerRow: 1, workgroupSize: 8 }, 'one thread per row'],
    [{ threadsPerRow: 16, workgroupSize: 16, subgroups: true }, 'subgroups of 4'],
  ] as const) {
    const opts: LowerOptions = { defaults: { rows: rowKnobs } };
    it(`softmax, logSoftmax, layernorm, rmsnorm in one program: ${label}`, () => {
      const p = program('norms', (b) => {
        const x = b.input('X', 'f32', { i: b.size('N'), j: b.size('D') });
        const g = b.input('G', 'f32', { j: b.size('D') });
        b.output('S', softmax(x, 'j'));
        b.output('L', logSoftmax(x, 'j'));
        b.output('LN', layernorm(x, 'j', { gamma: g }));
        b.output('R', rmsnorm(x, 'j', { weight: g }));
      });
      for (const [N, D] of [
        [3, 37],
        [5, 64],
        [1, 1],
      ] as const) {
        const inputs = { ...rows(N, D), G: randomHost('f32', [D], 5) };
        expectMatchesReference(p, { N, D }, inputs, opts, { rtol: 1e-4, atol: D === 1 ? 1e-2 : 1e-5 }, 4);
      }
    });
  }

  it('activations (erf and tanh GELU, SiLU) with vectorized elementwise kernels', () => {
    const p = program('act', (b) => {
      const x = b.input('X', 'f32', { i: 3, j: 12 });
      b.output('G', gelu(x));
      b.output('T', geluTanh(x));
      b.output('S', silu(x));
    });
    const plan = expectMatchesReference(p, {}, { X: randomHost('f32', [3, 12], 8, [-6, 6]) }, { defaults: { elementwise: { workgroupSize: 4 }, serial: { workgroupSize: 4 } } }, { rtol: 1e-5, atol: 1e-6 });
    expect(plan.kernels.some((k) => k.buffers.length > 0 && JSON.stringify(k.body).includes('"lanes":4'))).toBe(true);
  });

  // the last three share A through subgroup shuffles: subgroups of 4 here, one or two per
  // workgroup, with M, N and K all ragged against the tiles and the shuffled steps
  const shuffled = { staging: 'direct', shuffleA: true } as const;
  for (const [schedule, label] of [
    [{}, 'default tiling'],
    [{ staging: 'direct' }, 'direct loads'],
    [{ doubleBuffer: true, blockK: 4 }, 'double-buffered'],
    [{ vectorWidth: 1 }, 'scalar N side'],
    [{ splitK: 2 }, 'split-K'],
    [{ blockM: 4, blockN: 8, threadM: 2, threadN: 2, blockK: 2, unrollK: false }, 'small tiles'],
    [{ ...shuffled, blockM: 2, threadM: 2, blockN: 8, threadN: 2, blockK: 4 }, 'A shared by shuffles, one subgroup per workgroup'],
    [{ ...shuffled, blockM: 4, threadM: 4, blockN: 16, threadN: 2, blockK: 8, unrollK: false }, 'A shared by shuffles, two subgroups, two rounds per step'],
    [{ ...shuffled, blockM: 2, threadM: 2, blockN: 8, threadN: 2, blockK: 4, splitK: 2 }, 'A shared by shuffles, split-K'],
  ] as const) {
    it(`matmul with bias and relu epilogue: ${label}`, () => {
      const p = program('mm', (b) => {
        const a = b.input('A', 'f32', { i: 9, k: 13 });
        const w = b.input('W', 'f32', { k: 13, j: 10 });
        const bias = b.input('Bi', 'f32', { j: 10 });
        b.output('C', dot(a, w, 'k').add(bias).max(0));
      });
      const inputs = { A: randomHost('f32', [9, 13], 1), W: randomHost('f32', [13, 10], 2), Bi: randomHost('f32', [10], 3) };
      const plan = expectMatchesReference(p, {}, inputs, { schedule: { 'contraction:C_sum,C': schedule } }, undefined, 4, { subgroupSize: 4 });
      if ('shuffleA' in schedule) expect(JSON.stringify(plan.kernels[0]!.body)).toContain('"op":"shuffle"');
    });
  }

  it('shuffleA is refused where it cannot work, naming the knob', () => {
    const p = program('mm', (b) => b.output('C', dot(b.input('A', 'f32', { i: 9, k: 16 }), b.input('W', 'f32', { k: 16, j: 16 }), 'k')));
    const direct = { staging: 'direct', shuffleA: true, blockM: 2, threadM: 2, blockN: 8, threadN: 2, blockK: 4 } as const;
    const refusal = (knobs: object, subgroupSize?: number) => {
      try {
        lower(p, {}, { schedule: { 'contraction:C': { ...direct, ...knobs } } }, { ...WEBGPU_BASELINE_LIMITS, subgroupSize });
      } catch (e) {
        expect(e).toBeInstanceOf(InvalidScheduleError);
        return [(e as InvalidScheduleError).knob, (e as Error).message];
      }
      return undefined;
    };
    expect(refusal({}, undefined)).toEqual(['shuffleA', expect.stringMatching(/subgroups of one fixed size/)]);
    expect(refusal({ staging: 'shared' }, 4)).toEqual(['shuffleA', expect.stringMatching(/staging 'direct'/)]);
    expect(refusal({ vectorK: 4 }, 4)).toEqual(['vectorK', expect.stringMatching(/choose one/)]);
    expect(refusal({ blockM: 4 }, 4)).toEqual(['blockM', expect.stringMatching(/blockM == threadM/)]);
    expect(refusal({ blockN: 4 }, 4)).toEqual(['blockN', expect.stringMatching(/multiple of the subgroup size 4/)]);
    expect(refusal({ blockK: 2 }, 4)).toEqual(['blockK', expect.stringMatching(/subgroup size \(4\) must divide blockK/)]);
    expect(refusal({}, 4)).toBeUndefined();
  });

  it('batched matmul with a dequantized i4 operand (prologue) and odd sizes', () => {
    const p = program('bmm', (b) => {
      const a = b.input('A', 'f32', { h: 2, i: 5, k: 11 });
      const q = b.input('Q', 'i4', { k: 11, j: 6 });
      const s = b.input('S', 'f32', { j: 6 });
      b.output('C', dot(a, q.cast('f32').mul(s), 'k'));
    });
    const inputs = { A: randomHost('f32', [2, 5, 11], 4), Q: randomHost('i4', [11, 6], 5), S: randomHost('f32', [6], 6) };
    expectMatchesReference(p, {}, inputs);
    expectMatchesReference(p, {}, inputs, { grouping: { tileContractions: false } });
  });

  it('attention softmax(Q Kt) V', () => {
    const p = program('attn', (b) => {
      const q = b.input('Q', 'f32', { i: 5, d: 4 });
      const k = b.input('K', 'f32', { j: 7, d: 4 });
      const v = b.input('V', 'f32', { j: 7, e: 4 });
      b.output('O', dot(softmax(dot(q, k, 'd').mul(0.5), 'j'), v, 'j'));
    });
    const inputs = { Q: randomHost('f32', [5, 4], 1), K: randomHost('f32', [7, 4], 2), V: randomHost('f32', [7, 4], 3) };
    expectMatchesReference(p, {}, inputs, { defaults: { elementwise: { workgroupSize: 32 }, serial: { workgroupSize: 32 }, rows: { workgroupSize: 8 } } });
  });

  it('index arithmetic with negative operands keeps floor semantics in kernels', () => {
    // Y[i] = X[(i - 2) / 3 + 1] + X[(i - 4) % 3] for i in 0..7: the operands go negative
    const X = { name: 'X', dtype: 'i32' as const, axes: [{ name: 'i', size: int(3) }] };
    const Y = { name: 'Y', dtype: 'i32' as const, axes: [{ name: 'i', size: int(8) }] };
    const i = ivar('i');
    const expr = binary('add', load(X, [iadd(idiv(isub(i, 2), 3), 1)]), load(X, [imod(isub(i, 4), 3)]));
    const p: Program = { name: 'neg', sizes: [], inputs: [X], stmts: [{ target: Y, expr }], outputs: ['Y'], constraints: [] };
    const inputs = { X: fromValues('i32', [3], [100, 10, 1]) };
    const ref = evaluate(p, {}, inputs);
    // floor((i-2)/3)+1 = 0,0,1,1,1,2,2,2 and (i-4) mod 3 = 2,0,1,2,0,1,2,0
    expect([...ref.values.Y!]).toEqual([101, 200, 20, 11, 110, 11, 2, 101]);
    expectMatchesReference(p, {}, inputs, { defaults: { elementwise: { workgroupSize: 4, vectorWidth: 1 }, serial: { workgroupSize: 4 } } }, { rtol: 0, atol: 0 });
  });

  it('i32 reductions wrap exactly like the reference', () => {
    const p = program('isum', (b) => {
      const x = b.input('X', 'i32', { i: 2, j: 40 });
      b.output('S', x.mul(x).sum('j'));
      b.output('M', x.max('j'));
    });
    const inputs = { X: fromValues('i32', [2, 40], Array.from({ length: 80 }, (_, k) => (k * 2654435761) % 100000 - 50000)) };
    expectMatchesReference(p, {}, inputs, {}, { rtol: 0, atol: 0 });
  });
});

describe('the kernel-IR interpreter these checks rely on catches broken kernels', () => {
  const p = program('sm', (b) => b.output('Y', softmax(b.input('X', 'f32', { i: 3, j: 50 }), 'j')));
  const plan = lower(p, {}, { defaults: { rows: { threadsPerRow: 8, workgroupSize: 16 } } });
  const X = Array.from({ length: 150 }, (_, k) => Math.sin(k));
  const edit = (f: (s: KStmt) => KStmt[]) => ({ ...plan, kernels: plan.kernels.map((k) => ({ ...k, body: kmapStmts(k.body, f) })) });

  it('runs the intact plan', () => {
    const ref = evaluate(p, {}, { X: fromValues('f32', [3, 50], X) });
    expect(firstMismatch(runPlan(plan, { X }).Y!, ref.values.Y!, 1e-5, 1e-6)).toBe(-1);
  });
  it('a missing barrier', () => {
    expect(() => runPlan(edit((s) => (s.op === 'barrier' ? [] : [s])), { X })).toThrow(/read before it is written|race/);
  });
  it('a barrier only some invocations reach', () => {
    let once = false;
    const divergent = edit((s) => (s.op === 'if' && !once ? ((once = true), [{ ...s, then: [...s.then, { op: 'barrier' }] }]) : [s]));
    expect(() => runPlan(divergent, { X })).toThrow(/barrier divergence/);
  });
  it('an out-of-bounds store', () => {
    const oob = edit((s) => (s.op === 'store' && s.buffer === 'Y' ? [{ ...s, index: kconst(150) }] : [s]));
    expect(() => runPlan(oob, { X })).toThrow(/Y\[150\] is out of bounds/);
  });
  it('two invocations storing one element', () => {
    const clash = edit((s) => (s.op === 'store' && s.buffer === 'Y' ? [{ ...s, index: kconst(0) }] : [s]));
    expect(() => runPlan(clash, { X })).toThrow(/race on global Y\[0\]/);
  });
});
