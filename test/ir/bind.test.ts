import { describe, expect, it } from 'vitest';
import { bindProgram, boundShape, boundSize, shapeOf } from '../../src/ir/bind.js';
import { ProgramError } from '../../src/ir/errors.js';
import { iadd, int, sym } from '../../src/ir/intexpr.js';
import { type Program, load } from '../../src/ir/tensor.js';
import { thrown } from '../helpers/thrown.js';

describe('boundSize / boundShape', () => {
  it('read the sizes of bound axes as numbers', () => {
    expect(boundSize({ name: 'i', size: int(7) })).toBe(7);
    expect(boundShape([{ name: 'i', size: int(3) }, { name: 'j', size: int(1) }])).toEqual([3, 1]);
    expect(boundShape([])).toEqual([]);
  });

  it('refuse a symbolic size with a ProgramError naming the axis and the size', () => {
    const e = thrown(() => boundSize({ name: 'j', size: iadd(sym('N'), 1) }));
    expect(e).toBeInstanceOf(ProgramError);
    expect(e.message).toMatch(/axis j has unbound size N \+ 1/);
    expect(() => boundShape([{ name: 'i', size: int(2) }, { name: 'k', size: sym('K') }], 'tensor A')).toThrow('tensor A axis k has unbound size K');
  });

  it('read every axis of a program once it is bound', () => {
    const X = { name: 'X', dtype: 'f32' as const, axes: [{ name: 'i', size: sym('N') }, { name: 'j', size: iadd(sym('N'), 2) }] };
    const p: Program = { name: 'p', sizes: ['N'], inputs: [X], stmts: [{ target: { ...X, name: 'Y' }, expr: load(X, X.axes.map((a) => ({ op: 'var', name: a.name }))) }], outputs: ['Y'], constraints: [] };
    expect(() => shapeOf(p.inputs[0]!)).toThrow(ProgramError);
    const b = bindProgram(p, { N: 3 });
    expect(boundShape(b.inputs[0]!.axes)).toEqual([3, 5]);
    expect(shapeOf(b.stmts[0]!.target)).toEqual([3, 5]);
  });
});
