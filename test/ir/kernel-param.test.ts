import { describe, expect, it } from 'vitest';
import { I32, type KExpr, kadd, kchildren, kconst, kmapExpr, kparam, kvisit, kwithChildren } from '../../src/ir/kernel.js';
import { printKernel } from '../../src/ir/print-kernel.js';
import { verifyKernel } from '../../src/passes/verify-kernel.js';
import { runKernel } from '../helpers/naive.js';
import { doubleBelow } from '../helpers/param-kernel.js';

describe('kernel IR param (a dynamic size at run time)', () => {
  it('is an i32 leaf for every traversal', () => {
    const p = kparam('M');
    expect(p).toEqual({ op: 'param', type: I32, name: 'M' });
    expect(kchildren(p)).toEqual([]);
    expect(kwithChildren(p, [])).toBe(p);
    const seen: KExpr[] = [];
    kvisit([{ op: 'let', name: 'x', value: kadd(p, kconst(1)) }], (e) => seen.push(e));
    expect(seen.filter((e) => e.op === 'param')).toEqual([p]);
    expect(kmapExpr(kadd(p, kconst(1)), (e) => (e.op === 'param' ? kconst(7) : e))).toMatchObject({ op: 'binary', a: kconst(7), b: kconst(1) });
  });

  it('prints as $name, with the kernel listing its params', () => {
    const text = printKernel(doubleBelow(100));
    expect(text).toContain('  params N');
    expect(text).toContain('if (i < $N) {');
  });

  it('verifies only when the kernel lists the param, once', () => {
    expect(() => verifyKernel(doubleBelow(100))).not.toThrow();
    expect(() => verifyKernel({ ...doubleBelow(100), params: [] })).toThrow(/param N is read but not listed/);
    expect(() => verifyKernel({ ...doubleBelow(100), params: ['N', 'N'] })).toThrow(/listed twice/);
    const { params: _, ...none } = doubleBelow(100);
    expect(() => verifyKernel(none)).toThrow(/not listed/);
  });

  it('runs in the interpreter with values given per run, leaving the rest of the output alone', () => {
    const k = doubleBelow(100);
    for (const n of [1, 37, 64, 100]) {
      const X = Float64Array.from({ length: 100 }, (_, i) => i + 1);
      const Y = new Float64Array(100).fill(-1);
      runKernel(k, { X, Y }, { params: { N: n } });
      expect(Array.from(Y)).toEqual(Array.from({ length: 100 }, (_, i) => (i < n ? 2 * (i + 1) : -1)));
    }
    expect(() => runKernel(k, { X: new Float64Array(100), Y: new Float64Array(100) })).toThrow(/no value for param N/);
  });
});
