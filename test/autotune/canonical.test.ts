import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonicalProgram } from '../../src/autotune/canonical.js';
import { TuningDatabase } from '../../src/autotune/db.js';
import { tuningKeyFor } from '../../src/autotune/lookup.js';
import { dot } from '../../src/dsl/ops.js';
import { program } from '../../src/dsl/program.js';
import { parseProgram } from '../../src/dsl/text/parse.js';
import { structuralHash } from '../../src/ir/hash.js';
import { ivar, sym } from '../../src/ir/intexpr.js';
import { type Axis, type Expr, type FoldDef, type Program, binary, constant, load } from '../../src/ir/tensor.js';
import { syntheticDeviceInfo } from './fixtures.js';

/** C = A·B with the caller's names for the program, its axes and its sizes, sizes declared in the order given. */
const matmulSpelled = (name: string, [m, k, n]: readonly string[], [M, K, N]: readonly string[], declared: string): Program =>
  parseProgram(
    `program ${name}(${declared}) {\n  input A: f32[${m}: ${M}, ${k}: ${K}]\n  input B: f32[${k}: ${K}, ${n}: ${N}]\n  output C = sum[${k}](A * B)\n}`,
    `${name}.tc`,
  );

const mkn = matmulSpelled('matmul', ['m', 'k', 'n'], ['M', 'K', 'N'], 'M, N, K');
const ikj = matmulSpelled('mm', ['i', 'kk', 'j'], ['Rows', 'Inner', 'Cols'], 'Inner, Cols, Rows');

describe('canonical programs', () => {
  it('do not depend on axis, size or program names, nor on the order sizes are declared in', () => {
    expect(structuralHash(mkn)).not.toBe(structuralHash(ikj));
    expect(structuralHash(canonicalProgram(mkn).program)).toBe(structuralHash(canonicalProgram(ikj).program));
    expect(canonicalProgram(mkn).sizeNames).toEqual({ M: '%s0', K: '%s1', N: '%s2' });
    expect(canonicalProgram(ikj).sizeNames).toEqual({ Rows: '%s0', Inner: '%s1', Cols: '%s2' });
  });

  it('keep tensor names and structure: another computation or other tensor names hash differently', () => {
    const transposed = program('matmul', (p) => {
      const [M, N, K] = p.sizes('M', 'N', 'K');
      p.output('C', dot(p.input('A', 'f32', { k: K, m: M }), p.input('B', 'f32', { k: K, n: N }), 'k'));
    });
    const renamedTensor = program('matmul', (p) => {
      const [M, N, K] = p.sizes('M', 'N', 'K');
      p.output('Out', dot(p.input('A', 'f32', { m: M, k: K }), p.input('B', 'f32', { k: K, n: N }), 'k'));
    });
    const h = (p: Program) => structuralHash(canonicalProgram(p).program);
    expect(new Set([h(mkn), h(transposed), h(renamedTensor)]).size).toBe(3);
  });

  it('rename the axes inside folds: outer, stepped, state field and output axes', () => {
    const a = rowSumFold(['i', 'd', 'e'], ['N', 'D', 'E']);
    const b = rowSumFold(['row', 'step', 'col'], ['Rows', 'Steps', 'Cols']);
    const def = (p: Program) => (p.stmts[0]!.expr as Extract<Expr, { op: 'fold' }>).def;
    expect(def(canonicalProgram(a).program).state[0]!.axes[0]!.name).toBe(def(canonicalProgram(a).program).outputs[0]!.axes[0]!.name);
    expect(structuralHash(canonicalProgram(a).program)).toBe(structuralHash(canonicalProgram(b).program));
  });
});

/** Y[i, e] = the sum over d of X[i, d, e], as a fold with an accumulator row `acc[e]`. */
function rowSumFold([i, d, e]: readonly string[], [N, D, E]: readonly string[]): Program {
  const ax = (name: string, size: string): Axis => ({ name, size: sym(size) });
  const X = { name: 'X', dtype: 'f32' as const, axes: [ax(i!, N!), ax(d!, D!), ax(e!, E!)] };
  const acc = (of: 'self' | 'other'): Expr => ({ op: 'state', dtype: 'f32', field: 'acc', of, index: [ivar(e!)] });
  const def: FoldDef = {
    kind: 'fold',
    outer: [ax(i!, N!)],
    over: [ax(d!, D!)],
    state: [{ name: 'acc', dtype: 'f32', axes: [ax(e!, E!)] }],
    init: [constant(0, 'f32')],
    locals: [{ name: 'x', expr: load(X, [ivar(i!), ivar(d!), ivar(e!)]) }],
    update: [binary('add', acc('self'), { op: 'local', dtype: 'f32', name: 'x' })],
    merge: [binary('add', acc('self'), acc('other'))],
    outputs: [{ axes: [ax(e!, E!)], expr: acc('self') }],
  };
  return {
    name: 'rowsum',
    sizes: [N!, D!, E!],
    inputs: [X],
    stmts: [{ target: { name: 'Y', dtype: 'f32', axes: [ax(i!, N!), ax(e!, E!)] }, expr: { op: 'fold', dtype: 'f32', def, output: 0 } }],
    outputs: ['Y'],
    constraints: [],
  };
}

describe('tuning keys', () => {
  it('find the schedule recorded for one spelling of a program when looked up with another', async () => {
    const db = await TuningDatabase.open(join(mkdtempSync(join(tmpdir(), 'tilecraft-canon-')), 'tuning.json'));
    const schedule = { 'contraction:C': { kind: 'contraction' as const, blockM: 16, blockN: 16, blockK: 8, threadM: 2, threadN: 2, staging: 'direct' as const, doubleBuffer: false, unrollK: true, splitK: 1, vectorWidth: 4 as const, vectorK: 1 as const, shuffleA: false, tensorCores: false } };
    await db.record({
      ...tuningKeyFor(syntheticDeviceInfo, mkn, { M: 64, N: 32, K: 128 }),
      program: 'matmul',
      sizes: { M: 64, N: 32, K: 128 },
      schedule,
      medianMs: 1,
      spread: 0.01,
      candidates: 4,
      strategy: 'exhaustive',
      tieBreak: 'fastest',
      toleranceBand: 0.03,
      runnersUp: [],
    });
    const hit = await db.tunedSchedule(syntheticDeviceInfo, ikj, { Rows: 64, Cols: 32, Inner: 128 });
    expect(hit).toEqual({ schedule, match: 'exact' });
    expect(await db.tunedSchedule(syntheticDeviceInfo, ikj, { Rows: 60, Cols: 30, Inner: 100 })).toEqual({ schedule, match: 'bucket' });
    // sizes are matched by their role, not their name: swapping rows and columns misses
    expect(await db.tunedSchedule(syntheticDeviceInfo, ikj, { Rows: 32, Cols: 64, Inner: 128 })).toBeUndefined();
  });
});
