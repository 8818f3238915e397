import { describe, expect, it } from 'vitest';
import { bindProgram } from '../../src/ir/bind.js';
import { DTypeError, ProgramError, ShapeError } from '../../src/ir/errors.js';
import { foldOfReduce, foldOutput, localRead, reduceIdentity, stateRead } from '../../src/ir/fold.js';
import { structuralHash } from '../../src/ir/hash.js';
import { type IntExpr, iadd, int, ivar, sym } from '../../src/ir/intexpr.js';
import { printExpr, printStmt } from '../../src/ir/print.js';
import { deserializeProgram, serializeProgram } from '../../src/ir/serialize.js';
import { type Axis, type Expr, type FoldDef, type Program, type StateField, type TensorDecl, binary, constant, load, reduce } from '../../src/ir/tensor.js';
import { verifyProgram } from '../../src/ir/verify.js';
import { thrown } from '../helpers/thrown.js';

const ax = (name: string, size: IntExpr | number): Axis => ({ name, size: typeof size === 'number' ? int(size) : size });
const [i, j, e] = [ax('i', sym('N')), ax('j', 4), ax('e', 3)];
const X: TensorDecl = { name: 'X', dtype: 'f32', axes: [i, j] };
const W: TensorDecl = { name: 'W', dtype: 'f32', axes: [j, e] };
const m: StateField = { name: 'm', dtype: 'f32', axes: [] };
const acc: StateField = { name: 'acc', dtype: 'f32', axes: [e] };
const v = (n: string) => ivar(n);
const x = localRead('x', 'f32');

/** A running max m and a row acc[e] = sum over j of X[i, j] * W[j, e], per row i. */
const DEF: FoldDef = {
  kind: 'fold',
  outer: [i],
  over: [j],
  state: [m, acc],
  init: [constant(-Infinity, 'f32'), constant(0, 'f32')],
  locals: [{ name: 'x', expr: load(X, [v('i'), v('j')]) }],
  update: [binary('max', stateRead(m, []), x), binary('add', stateRead(acc, [v('e')]), binary('mul', x, load(W, [v('j'), v('e')])))],
  merge: [binary('max', stateRead(m, []), stateRead(m, [], 'other')), binary('add', stateRead(acc, [v('e')]), stateRead(acc, [v('e')], 'other'))],
  outputs: [
    { axes: [e], expr: stateRead(acc, [v('e')]) },
    { axes: [], expr: stateRead(m, []) },
  ],
};

const prog = (d: FoldDef = DEF, targets: [TensorDecl, TensorDecl] = [decl('O', [i, e]), decl('Mx', [i])]): Program => ({
  name: 'p',
  sizes: ['N'],
  inputs: [X, W],
  stmts: targets.map((t, k) => ({ target: t, expr: foldOutput(d, k) })),
  outputs: targets.map((t) => t.name),
  constraints: [],
});
function decl(name: string, axes: Axis[]): TensorDecl {
  return { name, dtype: 'f32', axes };
}
const fails = (d: Partial<FoldDef>, targets?: [TensorDecl, TensorDecl]) => thrown(() => verifyProgram(prog({ ...DEF, ...d }, targets)));

describe('verifying fold statements', () => {
  it('accepts a well-formed fold with two output statements, binds it and survives serialization', () => {
    expect(() => verifyProgram(prog())).not.toThrow();
    expect(() => bindProgram(prog(), { N: 5 })).not.toThrow();
    const back = deserializeProgram(serializeProgram(prog()));
    expect(structuralHash(back)).toBe(structuralHash(prog()));
  });

  it('state fields, and the counts and dtypes of their parts', () => {
    let err = fails({ state: [m, { ...acc, name: 'm' }] });
    expect(err).toBeInstanceOf(ProgramError);
    expect(err.message).toMatch(/two state fields named m/);
    err = fails({ update: DEF.update.slice(0, 1) });
    expect(err.message).toMatch(/2 state fields \(m, acc\) but 1 update expressions/);
    err = fails({ init: [constant(0, 'i32'), DEF.init[1]!] });
    expect(err).toBeInstanceOf(DTypeError);
    expect(err.message).toBe('the init of state field m of the fold computing O has dtype i32; the field is f32');
  });

  it('state reads: existing field, index count, other only in a merge, none in an init', () => {
    let err = fails({ outputs: [{ axes: [e], expr: stateRead({ ...acc, name: 'nope' }, [v('e')]) }, DEF.outputs[1]!] });
    expect(err.message).toMatch(/reads state field nope, which the fold does not have \(m, acc\)/);
    err = fails({ outputs: [{ axes: [e], expr: { op: 'state', dtype: 'f32', field: 'acc', of: 'self', index: [] } }, DEF.outputs[1]!] });
    expect(err).toBeInstanceOf(ShapeError);
    expect((err as ShapeError).axis).toBe('acc');
    err = fails({ update: [stateRead(m, [], 'other'), DEF.update[1]!] });
    expect(err.message).toBe("the update of state field m of the fold computing O reads m' (the other partial state), which only a merge has");
    err = fails({ init: [stateRead(m, []), DEF.init[1]!] });
    expect(err.message).toMatch(/an init cannot read the state it starts/);
  });

  it('locals: only earlier ones, and only in locals and updates', () => {
    let err = fails({ merge: [binary('max', stateRead(m, []), x), DEF.merge[1]!] });
    expect(err.message).toMatch(/the merge of state field m .* reads local x; only locals and updates may/);
    err = fails({ outputs: [DEF.outputs[0]!, { axes: [], expr: x }] });
    expect(err.message).toMatch(/output 1 .* reads local x/);
    err = fails({ locals: [{ name: 'y', expr: localRead('x', 'f32') }, DEF.locals[0]!] });
    expect(err.message).toBe('local y of the fold computing O reads local x, which is not computed before it');
  });

  it('free variables of each part, naming the axis', () => {
    // m's update may not use acc's axis e; a merge sees no step; an init sees no step
    let err = fails({ update: [binary('max', stateRead(m, []), load(W, [v('j'), v('e')])), DEF.update[1]!] }) as ShapeError;
    expect(err).toBeInstanceOf(ShapeError);
    expect([err.tensor, err.axis]).toEqual(['O', 'e']);
    expect(err.message).toMatch(/^the update of state field m of the fold computing O uses index e, which is not in scope there \(i, j\)/);
    err = fails({ merge: [DEF.merge[0]!, binary('add', stateRead(acc, [v('e')]), load(W, [v('j'), v('e')]))] }) as ShapeError;
    expect(err.axis).toBe('j');
    err = fails({ init: [load(X, [v('i'), v('j')]), DEF.init[1]!] }) as ShapeError;
    expect(err.axis).toBe('j');
    // a fold's output sees the final state only, not a step
    err = fails({ outputs: [DEF.outputs[0]!, { axes: [], expr: load(X, [v('i'), v('j')]) }] }) as ShapeError;
    expect(err.axis).toBe('j');
  });

  it('a reduction inside a part binds its own axis and may not shadow one in scope', () => {
    const k = ax('k', 3);
    const ok = reduce('sum', [k], binary('mul', load(X, [v('i'), v('j')]), load(W, [v('j'), v('k')])));
    expect(() => verifyProgram(prog({ ...DEF, locals: [{ name: 'x', expr: ok }] }))).not.toThrow();
    const shadow = reduce('sum', [ax('j', 4)], load(X, [v('i'), v('j')]));
    expect(fails({ locals: [{ name: 'x', expr: shadow }] }).message).toMatch(/reduction axis j shadows an index already in scope/);
  });

  it('a scan runs over one axis; targets are indexed by foldAxes', () => {
    let err = fails({ kind: 'scan', over: [j, ax('t', 2)] });
    expect(err.message).toMatch(/is a scan, which runs over exactly one axis; it has 2 \(j, t\)/);
    const bad = fails({}, [decl('O', [e, i]), decl('Mx', [i])]) as ShapeError;
    expect(bad).toBeInstanceOf(ShapeError);
    expect([bad.tensor, bad.axis]).toEqual(['O', 'e']);
    expect(bad.message).toMatch(/O has axes \(e, i\) but fold output 0 is indexed by \(i, e\)/);
    // a scan's target has the step axis after the outer ones
    expect(() => verifyProgram(prog({ ...DEF, kind: 'scan' }, [decl('O', [i, j, e]), decl('Mx', [i, j])]))).not.toThrow();
    expect(fails({ kind: 'scan' }).message).toMatch(/O has axes \(i, e\) but fold output 0 is indexed by \(i, j, e\)/);
  });

  it('a fold only at the root of a statement; state outside a fold', () => {
    const nested = binary('add', foldOutput(DEF, 1), constant(1, 'f32'));
    const p = { ...prog(), stmts: [{ target: decl('Mx', [i]), expr: nested }], outputs: ['Mx'] };
    expect(thrown(() => verifyProgram(p)).message).toMatch(/a fold is used inside an expression/);
    const q = { ...prog(), stmts: [{ target: decl('Mx', [i]), expr: stateRead(m, []) }], outputs: ['Mx'] };
    expect(thrown(() => verifyProgram(q)).message).toBe('Mx reads state m outside a fold definition');
  });

  it('bounds: a state read out of its field is named with the field axis', () => {
    const out = stateRead(acc, [iadd(v('e'), 1)]);
    const err = thrown(() => bindProgram(prog({ ...DEF, outputs: [{ axes: [e], expr: out }, DEF.outputs[1]!] }), { N: 2 })) as ShapeError;
    expect(err).toBeInstanceOf(ShapeError);
    expect(err.axis).toBe('e');
    expect(err.message).toMatch(/reads state field acc out of range on axis e: index e \+ 1 spans \[1, 3\]/);
  });
});

describe('printing a fold', () => {
  it('reads like the text language', () => {
    expect(printStmt(prog().stmts[0]!)).toBe(
      'O[i: N, e: 3]: f32 = fold over j: 4 outer i: N { state m: f32 = -inf; state acc[e: 3]: f32 = 0; x = X[i, j]; ' +
        "m <- max(m, x); acc <- acc[e] + x * W[j, e]; merge m = max(m, m'); merge acc = acc[e] + acc'[e]; " +
        'output 0[e: 3] = acc[e]; output 1 = m }.0',
    );
  });
});

describe('foldOfReduce', () => {
  it('gives the one-field fold of a reduction, with the identity as init', () => {
    const r = reduce('max', [j], load(X, [v('i'), v('j')]));
    const d = foldOfReduce(r, [i]);
    expect(printExpr(foldOutput(d, 0))).toBe("fold over j: 4 outer i: N { state acc: f32 = -inf; acc <- max(acc, X[i, j]); merge acc = max(acc, acc'); output 0 = acc }.0");
    expect(() => verifyProgram({ ...prog(), stmts: [{ target: decl('Mx', [i]), expr: foldOutput(d, 0) }], outputs: ['Mx'] })).not.toThrow();
    expect(reduceIdentity('min', 'i32')).toEqual(constant(2147483647, 'i32'));
    expect(reduceIdentity('max', 'u32')).toEqual(constant(0, 'u32'));
    expect(() => foldOfReduce(load(X, [v('i'), v('j')]) as Expr, [i])).toThrow(ProgramError);
  });
});
