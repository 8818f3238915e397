import { describe, expect, it } from 'vitest';
import { DTypeError, ProgramError } from '../../src/ir/errors.js';
import { iadd, int, ivar, sym } from '../../src/ir/intexpr.js';
import { printExpr } from '../../src/ir/print.js';
import {
  type Program,
  type TensorDecl,
  binary,
  cast,
  children,
  compare,
  constant,
  countNodes,
  freeVars,
  iota,
  load,
  loadedTensors,
  mapExpr,
  mapIndices,
  reduce,
  select,
  substIndex,
  tensorOf,
  unary,
  visitExpr,
  withChildren,
} from '../../src/ir/tensor.js';

const decl = (name: string, dtype: TensorDecl['dtype'], ...axes: [string, number][]): TensorDecl => ({
  name,
  dtype,
  axes: axes.map(([n, s]) => ({ name: n, size: int(s) })),
});
const X = decl('X', 'f32', ['i', 4], ['j', 5]);
const x = load(X, [ivar('i'), ivar('j')]);
const Q = decl('Q', 'i4', ['i', 4]);
const q = load(Q, [ivar('i')]);
const I = decl('I', 'i32', ['i', 4]);
const n = load(I, [ivar('i')]);

describe('constructors check dtypes', () => {
  it('constant: an int dtype needs an integer', () => {
    expect(constant(2, 'i32')).toEqual({ op: 'const', dtype: 'i32', value: 2 });
    expect(() => constant(2.5, 'i32')).toThrow(DTypeError);
    expect(() => constant(2.5, 'u4')).toThrow('constant 2.5 is not an integer but its dtype is u4');
    expect(constant(2.5, 'f16').dtype).toBe('f16');
  });

  it('load: the index count must match, naming the tensor and its axes', () => {
    expect(() => load(X, [ivar('i')])).toThrow(ProgramError);
    expect(() => load(X, [ivar('i')])).toThrow('X has 2 axes (i, j) but is indexed with 1');
    expect(x).toEqual({ op: 'load', dtype: 'f32', tensor: 'X', index: [ivar('i'), ivar('j')] });
  });

  it('unary: storage-only and boolean operands need a cast; float-only functions need floats', () => {
    expect(() => unary('neg', q)).toThrow(DTypeError);
    expect(() => unary('neg', q)).toThrow("the operand of neg has dtype i4, which only stores data; cast it first, e.g. cast(the operand of neg, 'f32')");
    expect(() => unary('abs', compare('lt', x, x))).toThrow(/abs of a boolean/);
    expect(() => unary('exp', n)).toThrow("exp needs a float operand, got i32; cast it first, e.g. cast(x, 'f32')");
    expect(unary('neg', n).dtype).toBe('i32');
    expect(unary('abs', n).dtype).toBe('i32');
    expect(unary('exp', cast(n, 'f16')).dtype).toBe('f16');
  });

  it('binary: both operands of one compute dtype', () => {
    expect(() => binary('add', x, cast(x, 'f16'))).toThrow('add of f32 and f16: cast one operand so both have the same dtype');
    expect(() => binary('add', q, q)).toThrow(DTypeError);
    expect(() => binary('add', cast(x, 'bf16'), cast(x, 'bf16'))).toThrow(/bf16, which only stores data/);
    expect(() => binary('pow', n, n)).toThrow('pow needs float operands, got i32');
    expect(() => binary('add', compare('lt', x, x), compare('lt', x, x))).toThrow('add of booleans; use select(cond, a, b)');
    expect(binary('mod', n, n).dtype).toBe('i32');
    expect(binary('div', x, x).dtype).toBe('f32');
  });

  it('compare: one dtype, result bool', () => {
    expect(compare('lt', x, x).dtype).toBe('bool');
    expect(() => compare('lt', x, n)).toThrow('comparison lt of f32 and i32: cast one operand so both have the same dtype');
    expect(() => compare('eq', q, q)).toThrow(DTypeError);
  });

  it('select: a boolean condition and branches of one dtype', () => {
    expect(select(compare('gt', x, constant(0, 'f32')), x, constant(0, 'f32')).dtype).toBe('f32');
    expect(() => select(x, x, x)).toThrow('select needs a boolean condition (a comparison), got f32');
    expect(() => select(compare('gt', x, x), x, n)).toThrow('select between f32 and i32: both branches need one dtype');
  });

  it('cast: to the same dtype is the operand itself, to bool is refused', () => {
    expect(cast(x, 'f32')).toBe(x);
    expect(cast(q, 'f32')).toEqual({ op: 'cast', dtype: 'f32', x: q });
    expect(() => cast(x, 'bool')).toThrow(DTypeError);
    expect(() => cast(x, 'bool')).toThrow(/compare with zero instead/);
  });

  it('reduce: no axes is the body; booleans and storage-only bodies are refused', () => {
    expect(reduce('sum', [], x)).toBe(x);
    const r = reduce('max', [{ name: 'j', size: int(5) }], x);
    expect(r).toEqual({ op: 'reduce', dtype: 'f32', fn: 'max', axes: [{ name: 'j', size: int(5) }], body: x });
    expect(() => reduce('sum', [{ name: 'j', size: int(5) }], compare('lt', x, x))).toThrow('sum over booleans; cast to i32 first');
    expect(() => reduce('sum', [{ name: 'i', size: int(4) }], q)).toThrow(DTypeError);
  });

  it('iota defaults to i32', () => {
    expect(iota(ivar('i'))).toEqual({ op: 'iota', dtype: 'i32', index: ivar('i') });
    expect(iota(sym('N'), 'f32').dtype).toBe('f32');
  });
});

describe('traversal', () => {
  const e = binary('add', unary('exp', x), reduce('sum', [{ name: 'k', size: int(5) }], load(X, [ivar('i'), ivar('k')])));

  it('children and withChildren agree and keep identity when nothing changes', () => {
    expect(children(e)).toHaveLength(2);
    expect(withChildren(e, children(e))).toBe(e);
    const swapped = withChildren(e, [...children(e)].reverse());
    expect(swapped).not.toBe(e);
    expect(printExpr(swapped)).toBe('sum[k: 5](X[i, k]) + exp(X[i, j])');
    const s = select(compare('lt', x, x), x, x);
    expect(children(s)).toEqual([compare('lt', x, x), x, x]);
    expect(children(x)).toEqual([]);
  });

  it('mapExpr is bottom-up and visitExpr is pre-order', () => {
    const seen: string[] = [];
    visitExpr(e, (n) => seen.push(n.op));
    expect(seen).toEqual(['binary', 'unary', 'load', 'reduce', 'load']);
    const order: string[] = [];
    mapExpr(e, (n) => {
      order.push(n.op);
      return n;
    });
    expect(order).toEqual(['load', 'unary', 'load', 'reduce', 'binary']);
    // the identity map returns the very same tree
    expect(mapExpr(e, (n) => n)).toBe(e);
  });

  it('mapIndices rewrites load indices, iota indices and reduction sizes', () => {
    const withIota = binary('add', e, iota(iadd(ivar('i'), sym('N')), 'f32'));
    const renamed = mapIndices(withIota, (ix) => (ix.op === 'int' ? int(ix.value * 10) : ix.op === 'sym' ? int(7) : ix));
    expect(printExpr(renamed)).toBe('exp(X[i, j]) + sum[k: 50](X[i, k]) + index<f32>(i + N)');
    // mapIndices maps each top-level index expression, not its sub-terms
    const deep = mapIndices(withIota, (ix) => (ix.op === 'add' ? ivar('z') : ix));
    expect(printExpr(deep)).toContain('index<f32>(z)');
  });

  it('substIndex substitutes simultaneously, also inside reductions', () => {
    const t = substIndex(e, { i: ivar('j'), j: ivar('i') });
    expect(printExpr(t)).toBe('exp(X[j, i]) + sum[k: 5](X[j, k])');
  });

  it('freeVars leaves out reduction-bound variables', () => {
    expect([...freeVars(e)].sort()).toEqual(['i', 'j']);
    expect([...freeVars(iota(iadd(ivar('a'), sym('N'))))]).toEqual(['a']);
    expect([...freeVars(reduce('sum', [{ name: 'i', size: int(4) }, { name: 'j', size: int(5) }], x))]).toEqual([]);
  });

  it('loadedTensors and countNodes', () => {
    expect([...loadedTensors(binary('add', e, cast(q, 'f32')))].sort()).toEqual(['Q', 'X']);
    expect(countNodes(e)).toBe(5);
  });

  it('tensorOf finds inputs and statement targets, and names a missing tensor', () => {
    const Y = decl('Y', 'f32', ['i', 4]);
    const p: Program = { name: 'p', sizes: [], inputs: [X], stmts: [{ target: Y, expr: constant(0, 'f32') }], outputs: ['Y'], constraints: [] };
    expect(tensorOf(p, 'X')).toBe(X);
    expect(tensorOf(p, 'Y')).toBe(Y);
    expect(() => tensorOf(p, 'Z')).toThrow(ProgramError);
    expect(() => tensorOf(p, 'Z')).toThrow('program p has no tensor named Z');
  });
});

