import { describe, expect, it } from 'vitest';
import { dot } from '../../src/dsl/ops.js';
import { type ProgramBuilder, program } from '../../src/dsl/program.js';
import { DTypeError, ProgramError, ShapeError } from '../../src/ir/errors.js';
import { randomHost, toValues } from '../../src/ir/host.js';
import { foldAxes } from '../../src/ir/tensor.js';
import { evaluate } from '../../src/reference/evaluate.js';
import { thrown } from '../helpers/thrown.js';

/** Per row i, the sum and the sum of squares of X[i, j] over j, and the mean and variance from them. */
const moments = (p: ProgramBuilder, opts: { wrongDtype?: boolean; missing?: boolean } = {}) => {
  const [N, M] = p.sizes('N', 'M');
  const x = p.input('X', 'f32', { i: N, j: M });
  return p.fold({
    over: { j: M },
    state: { s: { dtype: 'f32', init: 0 }, q: { dtype: 'f32', init: 0 } },
    step: (st, local) => {
      const v = local('v', x);
      if (opts.missing) return { s: st.s.add(v) } as never;
      return { s: st.s.add(v), q: opts.wrongDtype ? (v.cast('i32') as never) : st.q.add(v.mul(v)) };
    },
    merge: (a, b) => ({ s: a.s.add(b.s), q: a.q.add(b.q) }),
    outputs: (st) => ({ mean: st.s.div(p.value(M, 'f32')), ex2: st.q.div(p.value(M, 'f32')) }),
  });
};

describe('p.fold', () => {
  it('builds one definition shared by a statement per named output, over the inferred outer axes', () => {
    const p = program('m', (b) => {
      const { mean, ex2 } = moments(b);
      b.output('mean', mean);
      // a result is an ordinary tensor for further math
      b.output('variance', ex2.sub(mean.mul(mean)));
    });
    expect(p.stmts.map((s) => s.target.name)).toEqual(['mean', 'ex2', 'variance']);
    expect(p.outputs).toEqual(['mean', 'variance']);
    const [a, b] = [p.stmts[0]!.expr, p.stmts[1]!.expr];
    if (a.op !== 'fold' || b.op !== 'fold') throw new Error('expected folds');
    expect(a.def).toBe(b.def);
    expect([a.output, b.output]).toEqual([0, 1]);
    expect(a.def.outer.map((x) => x.name)).toEqual(['i']);
    expect(a.def.locals.map((l) => l.name)).toEqual(['v']);
    expect(foldAxes(a.def, 0).map((x) => x.name)).toEqual(['i']);
    const X = randomHost('f32', [3, 5], 9);
    const r = evaluate(p, { N: 3, M: 5 }, { X }).values;
    const xs = toValues(X);
    for (let i = 0; i < 3; i++) {
      const row = Array.from(xs.slice(i * 5, i * 5 + 5));
      const mean = row.reduce((u, w) => u + w, 0) / 5;
      const ex2 = row.reduce((u, w) => u + w * w, 0) / 5;
      expect(r.mean![i]).toBe(Math.fround(mean));
      expect(r.variance![i]).toBeCloseTo(ex2 - mean * mean, 6);
    }
  });

  it('checks every field has a value of its dtype, and names it', () => {
    let err = thrown(() => program('m', (b) => void moments(b, { wrongDtype: true })));
    expect(err).toBeInstanceOf(DTypeError);
    expect(err.message).toBe('the step of state field q has dtype i32; the field is f32 (cast it)');
    err = thrown(() => program('m', (b) => void moments(b, { missing: true })));
    expect(err).toBeInstanceOf(ProgramError);
    expect(err.message).toBe('the step of the fold gives no value for state field q');
  });

  it('a fold output may not use a step axis; a scan runs over one axis', () => {
    let err = thrown(() =>
      program('f', (b) => {
        const [M] = b.sizes('M');
        const x = b.input('X', 'f32', { j: M });
        b.fold({ over: { j: M }, state: { s: { dtype: 'f32', init: 0 } }, step: (st) => ({ s: st.s.add(x) }), merge: (u, v) => ({ s: u.s.add(v.s) }), outputs: (st) => ({ Y: st.s.add(x) }) });
      }),
    );
    expect(err).toBeInstanceOf(ShapeError);
    expect(err.message).toMatch(/output Y of the fold uses step axis j; outputs see only the final state/);
    err = thrown(() =>
      program('f', (b) => {
        b.scan({ over: { t: 2, u: 3 }, state: { s: { dtype: 'f32', init: 0 } }, step: (st) => ({ s: st.s }), merge: (u) => ({ s: u.s }), outputs: (st) => ({ Y: st.s }) });
      }),
    );
    expect(err.message).toBe('a scan runs over exactly one axis, got t, u');
  });

  it('state handles carry their field axes in their types', () => {
    program('f', (b) => {
      const [M, D] = b.sizes('M', 'D');
      const v = b.input('V', 'f32', { j: M, e: D });
      const { O } = b.fold({
        over: { j: M },
        state: { acc: { dtype: 'f32', axes: { e: D }, init: 0 } },
        step: (st) => {
          // @ts-expect-error: acc has no axis j to reduce over
          if (M === undefined) st.acc.sum('j');
          return { acc: st.acc.add(v) };
        },
        merge: (a, c) => ({ acc: a.acc.add(c.acc) }),
        outputs: (st) => ({ O: st.acc.mul(2) }),
      });
      b.output('O', O);
    });
  });
});

describe('p.scan', () => {
  it('a running sum (prefix sum) with its outputs indexed by the step', () => {
    const p = program('cumsum', (b) => {
      const [N, T] = b.sizes('N', 'T');
      const x = b.input('X', 'f32', { n: N, t: T });
      const { Y } = b.scan({
        over: { t: T },
        state: { s: { dtype: 'f32', init: 0 } },
        step: (st) => ({ s: st.s.add(x) }),
        merge: (u, v) => ({ s: u.s.add(v.s) }),
        outputs: (st) => ({ Y: st.s.mul(x) }), // a scan's output may read the step's inputs
      });
      b.output('Y', Y);
    });
    expect(p.stmts[0]!.target.axes.map((a) => a.name)).toEqual(['n', 't']);
    const X = randomHost('f32', [2, 4], 3);
    const y = evaluate(p, { N: 2, T: 4 }, { X }).values.Y!;
    const xs = toValues(X);
    for (let n = 0; n < 2; n++) {
      let s = 0;
      for (let t = 0; t < 4; t++) {
        s += xs[n * 4 + t]!;
        expect(y[n * 4 + t]).toBe(Math.fround(s * xs[n * 4 + t]!));
      }
    }
  });

  it('an output named like an existing tensor is a ProgramError', () => {
    const err = thrown(() =>
      program('f', (b) => {
        const [T] = b.sizes('T');
        const x = b.input('X', 'f32', { t: T });
        b.scan({ over: { t: T }, state: { s: { dtype: 'f32', init: 0 } }, step: (st) => ({ s: st.s.add(x) }), merge: (u, v) => ({ s: u.s.add(v.s) }), outputs: (st) => ({ X: st.s }) });
      }),
    );
    expect(err).toBeInstanceOf(ProgramError);
    expect(err.message).toMatch(/X is declared twice/);
  });
});

describe('online softmax written with p.fold', () => {
  it('dot inside a local keeps its reduction in the fold', () => {
    const p = program('os', (b) => {
      const [N, M, D] = b.sizes('N', 'M', 'D');
      const q = b.input('Q', 'f32', { i: N, d: D });
      const k = b.input('K', 'f32', { j: M, d: D });
      const { m } = b.fold({
        over: { j: M },
        state: { m: { dtype: 'f32', init: -Infinity } },
        step: (st, local) => ({ m: st.m.max(local('s', dot(q, k, 'd'))) }),
        merge: (u, v) => ({ m: u.m.max(v.m) }),
        outputs: (st) => ({ m: st.m }),
      });
      b.output('m', m);
    });
    const e = p.stmts[0]!.expr;
    expect(e.op === 'fold' && e.def.locals[0]!.expr.op).toBe('reduce');
  });
});
