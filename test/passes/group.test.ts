import { describe, expect, it } from 'vitest';
import { dot, layernorm, softmax } from '../../src/dsl/ops.js';
import { type ProgramBuilder, program } from '../../src/dsl/program.js';
import { type BoundProgram, bindProgram } from '../../src/ir/bind.js';
import { hoistReductions } from '../../src/passes/hoist-reductions.js';
import {
  DEFAULT_GROUP_OPTIONS,
  type GroupOptions,
  type KernelGroup,
  escapingTensors,
  groupStatements,
  isContraction,
  reductionLength,
  stmtsOf,
} from '../../src/passes/group.js';
import { inlineElementwise } from '../../src/passes/inline-elementwise.js';

/** The fused, bound program lower() groups. */
const fused = (f: (b: ProgramBuilder) => void): BoundProgram => inlineElementwise(bindProgram(hoistReductions(program('g', f)), {}));
const UNTILED: GroupOptions = { ...DEFAULT_GROUP_OPTIONS, tileContractions: false };
const describeGroups = (gs: readonly KernelGroup[]) => gs.map((g) => `${g.kind}(${stmtsOf(g).map((s) => s.target.name).join(',')})`);

describe('groupStatements', () => {
  it('elementwise statements get one invocation per element', () => {
    const p = fused((b) => b.output('Y', b.input('X', 'f32', { i: 5 }).exp()));
    expect(describeGroups(groupStatements(p))).toEqual(['elementwise(Y)']);
  });

  it('short reductions run serially, long ones cooperatively (rows)', () => {
    const short = fused((b) => b.output('S', b.input('X', 'f32', { i: 4, j: 31 }).sum('j')));
    expect(describeGroups(groupStatements(short))).toEqual(['serial(S)']);
    const long = fused((b) => b.output('S', b.input('X', 'f32', { i: 4, j: 32 }).sum('j')));
    const gs = groupStatements(long);
    expect(describeGroups(gs)).toEqual(['rows(S)']);
    expect(gs[0]!.kind === 'rows' && gs[0]!.rowShape).toEqual([4]);
    expect(describeGroups(groupStatements(long, { ...DEFAULT_GROUP_OPTIONS, cooperativeMinLength: 33 }))).toEqual(['serial(S)']);
  });

  it('softmax is one row group: both reductions and the normalization', () => {
    const p = fused((b) => b.output('Y', softmax(b.input('X', 'f32', { i: 3, j: 64 }), 'j')));
    expect(describeGroups(groupStatements(p))).toEqual(['rows(Y_max,Y_sum,Y)']);
  });

  it('layernorm over a rank-3 tensor is one row group with a 2-D row shape', () => {
    const p = fused((b) => b.output('Y', layernorm(b.input('X', 'f32', { a: 2, i: 3, j: 64 }), 'j')));
    const gs = groupStatements(p);
    expect(describeGroups(gs)).toEqual(['rows(Y_sum,Y_sum2,Y)']);
    expect(gs[0]!.kind === 'rows' && gs[0]!.rowShape).toEqual([2, 3]);
  });

  it('a statement reading a row result at another row starts a new group', () => {
    const p = fused((b) => {
      const x = b.input('X', 'f32', { i: 3, j: 64 });
      const m = b.let('M', x.max('j'));
      b.output('Y', x.sub(m.at('i', 0)));
    });
    expect(describeGroups(groupStatements(p))).toEqual(['rows(M)', 'elementwise(Y)']);
  });

  it('a reduction of another row shape starts a new group', () => {
    const p = fused((b) => {
      const x = b.input('X', 'f32', { i: 3, j: 64 });
      b.output('M', x.max('j'));
      b.output('C', x.sum('i'));
      b.output('T', x.sum('i', 'j'));
    });
    expect(describeGroups(groupStatements(p, { ...DEFAULT_GROUP_OPTIONS, cooperativeMinLength: 2 }))).toEqual(['rows(M)', 'rows(C)', 'rows(T)']);
  });

  it('an independent long reduction with the same row shape joins the open row group', () => {
    const p = fused((b) => {
      const x = b.input('X', 'f32', { i: 3, j: 64 });
      b.output('M', x.max('j'));
      b.output('S', x.sum('j'));
    });
    expect(describeGroups(groupStatements(p))).toEqual(['rows(M,S)']);
  });

  it('an elementwise statement that reads no row result does not join', () => {
    const p = fused((b) => {
      const x = b.input('X', 'f32', { i: 3, j: 64 });
      b.output('M', x.max('j'));
      b.output('E', x.exp());
    });
    expect(describeGroups(groupStatements(p))).toEqual(['rows(M)', 'elementwise(E)']);
  });

  it('untiled contractions: rows when few outputs, serial when many', () => {
    const mm = (m: number, n: number) =>
      fused((b) => b.output('C', dot(b.input('A', 'f32', { i: m, k: 64 }), b.input('B', 'f32', { k: 64, j: n }), 'k')));
    expect(describeGroups(groupStatements(mm(4, 4), UNTILED))).toEqual(['rows(C)']);
    expect(describeGroups(groupStatements(mm(128, 128), UNTILED))).toEqual(['serial(C)']);
    expect(describeGroups(groupStatements(mm(4, 4), { ...UNTILED, contractionSerialOutputs: 16 }))).toEqual(['serial(C)']);
  });

  it('tiled contractions take pointwise epilogues', () => {
    const p = fused((b) => {
      const a = b.input('A', 'f32', { i: 8, k: 16 });
      const w = b.input('W', 'f32', { k: 16, j: 8 });
      const bias = b.input('Bi', 'f32', { j: 8 });
      const c = b.let('C', dot(a, w, 'k'));
      b.output('Y', c.add(bias).max(0));
      b.output('Z', c.sum('j'));
    });
    const gs = groupStatements(p);
    expect(describeGroups(gs)).toEqual(['contraction(C,Y)', 'serial(Z)']);
    const g = gs[0]!;
    if (g.kind !== 'contraction') throw new Error('expected a contraction');
    expect(g.shape.m.map((a) => a.name)).toEqual(['i']);
    expect(g.shape.n.map((a) => a.name)).toEqual(['j']);
    expect(g.shape.k.map((a) => a.name)).toEqual(["k'"]);
    expect(escapingTensors(gs, p.outputs)).toEqual(new Set(['Y', 'Z', 'C']));
  });

  it('an elementwise statement a row reduction reads whole is stored at its steps (a decoding step: S_new and o = q·S_new)', () => {
    const decode = (order: readonly ('d' | 'e')[], extra = false) =>
      fused((b) => {
        const S = b.input('S', 'f32', { d: 40, e: 300 });
        const q = b.input('q', 'f32', { d: 40 });
        const k = b.input('k', 'f32', { d: 40 });
        const v = b.input('v', 'f32', { e: 300 });
        const next = b.output('S_new', S.mul(k).add(k.mul(v)), order as never);
        b.output('o', dot(q, next, 'd'));
        if (extra) b.output('z', next.add(1));
      });
    const groups = groupStatements(decode(['d', 'e']));
    expect(describeGroups(groups)).toEqual(['rows(S_new,o)']);
    const g = groups[0] as Extract<KernelGroup, { kind: 'rows' }>;
    // S_new[d, e]: d is the step, e the row
    expect(g.steps?.map((x) => [x.stmt.target.name, x.by, x.axes])).toEqual([['S_new', 'o', ['step', 0]]]);
    // stored transposed: the axes follow the statement's own order
    expect((groupStatements(decode(['e', 'd']))[0] as Extract<KernelGroup, { kind: 'rows' }>).steps?.[0]!.axes).toEqual([0, 'step']);
    // read again later: still stored by the reduction, and read back from memory by the next group
    expect(describeGroups(groupStatements(decode(['d', 'e'], true)))).toEqual(['rows(S_new,o)', 'elementwise(z)']);
    // a statement the reduction does not read whole (another expression) keeps its kernel
    const other = fused((b) => {
      const S = b.input('S', 'f32', { d: 40, e: 300 });
      b.output('T', S.mul(2));
      b.output('o', S.sum('d'));
    });
    expect(describeGroups(groupStatements(other))).toEqual(['elementwise(T)', 'rows(o)']);
    // so does one under a reduction of few rows (a full reduction is one): one team would store it all
    const few = fused((b) => {
      const X = b.input('X', 'f32', { i: 4096 });
      const y = b.output('Y', X.exp());
      b.output('s', y.sum('i'));
    });
    expect(describeGroups(groupStatements(few))).toEqual(['elementwise(Y)', 'rows(s)']);
  });

  it('escapingTensors: outputs and what another group reads', () => {
    const p = fused((b) => {
      const x = b.input('X', 'f32', { i: 3, j: 64 });
      const m = b.let('M', x.max('j'));
      const s = b.let('S', x.sub(m).exp().sum('j'));
      b.output('Y', x.sub(m).exp().div(s));
      b.output('F', m.at('i', 0));
    });
    const gs = groupStatements(p);
    expect(describeGroups(gs)).toEqual(['rows(M,S,Y)', 'elementwise(F)']);
    expect(escapingTensors(gs, p.outputs)).toEqual(new Set(['Y', 'F', 'M']));
  });
});

describe('reductionLength / isContraction', () => {
  const p = fused((b) => {
    const a = b.input('A', 'f32', { i: 2, k: 5 });
    const w = b.input('W', 'f32', { k: 5, j: 3 });
    b.output('C', dot(a, w, 'k'));
    b.output('R', a.sum('i', 'k'));
    b.output('E', a.exp());
  });
  const [c, r, e] = p.stmts;
  it('reads off the statements', () => {
    expect([reductionLength(c!), reductionLength(r!), reductionLength(e!)]).toEqual([5, 10, 1]);
    expect([isContraction(c!), isContraction(r!), isContraction(e!)]).toEqual([true, false, false]);
  });
});
