import { describe, expect, it } from 'vitest';
import { layernorm, softmax } from '../../src/dsl/ops.js';
import { program } from '../../src/dsl/program.js';
import { int, ivar } from '../../src/ir/intexpr.js';
import { printProgram } from '../../src/ir/print.js';
import { type Expr, type Program, binary, freeVars, load, reduce, visitExpr } from '../../src/ir/tensor.js';
import { verifyProgram } from '../../src/ir/verify.js';
import { hoistReductions } from '../../src/passes/hoist-reductions.js';
import { firstMismatch, naiveEvaluate, randomProgram } from '../helpers/naive.js';

const countReduces = (e: Expr) => {
  let n = 0;
  visitExpr(e, (x) => void (x.op === 'reduce' && n++));
  return n;
};

/** The normal form the reference and the lowering rely on. */
function expectNormalForm(p: Program): void {
  for (const s of p.stmts) {
    if (s.expr.op === 'reduce') {
      expect(countReduces(s.expr.body), `${s.target.name} has a nested reduction`).toBe(0);
      expect([...freeVars(s.expr)].sort(), s.target.name).toEqual(s.target.axes.map((a) => a.name).sort());
    } else {
      expect(countReduces(s.expr), `${s.target.name} is not reduction-free`).toBe(0);
    }
  }
}

describe('hoistReductions', () => {
  it('softmax: the max is computed once and both reductions get statements of their own', () => {
    const p = program('softmax', (b) => {
      const x = b.input('X', 'f32', { i: b.size('N'), j: b.size('D') });
      b.output('Y', softmax(x, 'j'));
    });
    const h = hoistReductions(p);
    expect(printProgram(h)).toMatchInlineSnapshot(`
      "program softmax(N, D)
        in  X: f32[i: N, j: D]
            Y_max[i: N]: f32 = max[j': D](X[i, j'])
            Y_sum[i: N]: f32 = sum[j'2: D](exp(X[i, j'2] - Y_max[i]))
        out Y[i: N, j: D]: f32 = exp(X[i, j] - Y_max[i]) / Y_sum[i]"
    `);
    expect(h.outputs).toEqual(['Y']);
    expectNormalForm(h);
    expect(() => verifyProgram(h)).not.toThrow();
  });

  it('layernorm: the mean appears three times in the tree and is hoisted once', () => {
    const p = program('ln', (b) => {
      const x = b.input('X', 'f32', { i: 2, j: 8 });
      b.output('Y', layernorm(x, 'j'));
    });
    const h = hoistReductions(p);
    expect(h.stmts.map((s) => s.target.name)).toEqual(['Y_sum', 'Y_sum2', 'Y']);
    expect(printProgram(h)).toMatchInlineSnapshot(`
      "program ln()
        in  X: f32[i: 2, j: 8]
            Y_sum[i: 2]: f32 = sum[j': 8](X[i, j'])
            Y_sum2[i: 2]: f32 = sum[j'2: 8]((X[i, j'2] - Y_sum[i] / index<f32>(8)) * (X[i, j'2] - Y_sum[i] / index<f32>(8)))
        out Y[i: 2, j: 8]: f32 = (X[i, j] - Y_sum[i] / index<f32>(8)) * rsqrt(Y_sum2[i] / index<f32>(8) + 0.00001)"
    `);
    expectNormalForm(h);
  });

  it('leaves a root reduction over exactly the target axes in place', () => {
    const p = program('s', (b) => b.output('S', b.input('X', 'f32', { i: 2, j: 3 }).sum('j')));
    const h = hoistReductions(p);
    expect(h.stmts).toHaveLength(1);
    expect(h.stmts[0]).toEqual(p.stmts[0]);
  });

  it('hoists a root reduction that ignores some target axes (it is broadcast)', () => {
    const p = program('b', (b) => {
      const c = b.input('C', 'f32', { k: 4 });
      b.output('Y', c.sum('k').broadcast({ i: 3 }));
    });
    expect(printProgram(hoistReductions(p))).toMatchInlineSnapshot(`
      "program b()
        in  C: f32[k: 4]
            Y_sum[]: f32 = sum[k': 4](C[k'])
        out Y[i: 3]: f32 = Y_sum"
    `);
  });

  it('a reduction nested in another is indexed by the outer bound variable', () => {
    const X = { name: 'X', dtype: 'f32' as const, axes: [{ name: 'i', size: int(2) }, { name: 'j', size: int(3) }] };
    const inner = reduce('max', [{ name: 'k', size: int(3) }], load(X, [ivar('a'), ivar('k')]));
    const outer = reduce('sum', [{ name: 'a', size: int(2) }], binary('mul', load(X, [ivar('a'), ivar('i')]), inner));
    const p: Program = {
      name: 'nest',
      sizes: [],
      inputs: [X],
      stmts: [{ target: { name: 'S', dtype: 'f32', axes: [{ name: 'i', size: int(3) }] }, expr: outer }],
      outputs: ['S'],
      constraints: [],
    };
    expect(() => verifyProgram(p)).not.toThrow();
    const h = hoistReductions(p);
    expect(printProgram(h)).toMatchInlineSnapshot(`
      "program nest()
        in  X: f32[i: 2, j: 3]
            S_max[a: 2]: f32 = max[k: 3](X[a, k])
        out S[i: 3]: f32 = sum[a: 2](X[a, i] * S_max[a])"
    `);
    const x = [1, -2, 3, 4, 5, -6];
    expect([...naiveEvaluate(h, {}, { X: x }).S!]).toEqual([...naiveEvaluate(p, {}, { X: x }).S!]);
  });

  it('shares a reduction across statements even when its variables are named differently', () => {
    const p = program('share', (b) => {
      const x = b.input('X', 'f32', { i: 2, j: 3 });
      b.output('A', x.sub(x.max('j')));
      b.output('B', x.rename({ i: 'p' }).max('j').add(1).broadcast({ q: 2 }));
    });
    const h = hoistReductions(p);
    expect(h.stmts.map((s) => s.target.name)).toEqual(['A_max', 'A', 'B']);
    expect(printProgram(h)).toContain('out B[p: 2, q: 2]: f32 = A_max[p] + 1');
  });

  it('does not share reductions that differ in a size or a dtype', () => {
    const p = program('noshare', (b) => {
      const x = b.input('X', 'f32', { i: 2, j: 4 });
      b.output('A', x.sub(x.max('j')));
      b.output('B', x.slice('j', 0, 3).rename({ j: 'k' }).max('k').add(x.at('j', 0)));
      b.output('C', x.cast('f16').sub(x.cast('f16').max('j')));
    });
    const names = hoistReductions(p).stmts.map((s) => s.target.name);
    expect(names).toEqual(['A_max', 'A', 'B_max', 'B', 'C_max', 'C']);
  });

  it('picks names that no tensor uses yet', () => {
    const p = program('names', (b) => {
      const x = b.input('Y_max', 'f32', { i: 2, j: 3 });
      b.output('Y', x.sub(x.max('j')).sub(x.min('j')));
    });
    expect(hoistReductions(p).stmts.map((s) => s.target.name)).toEqual(['Y_max2', 'Y_min', 'Y']);
  });

  it('random programs: normal form, still valid, same values', () => {
    for (let k = 0; k < 60; k++) {
      const rp = randomProgram(777 + k * 31);
      const h = hoistReductions(rp.program);
      expectNormalForm(h);
      expect(() => verifyProgram(h)).not.toThrow();
      const before = naiveEvaluate(rp.program, rp.sizes, rp.inputs);
      const after = naiveEvaluate(h, rp.sizes, rp.inputs);
      for (const o of rp.program.outputs) expect(firstMismatch(after[o]!, before[o]!), `${o} of ${rp.ops.join(' ')}`).toBe(-1);
    }
  });
});
