import { describe, expect, it } from 'vitest';
import { softmax } from '../../src/dsl/ops.js';
import { boundShape } from '../../src/ir/bind.js';
import { program } from '../../src/dsl/program.js';
import { fromValues, randomHost, toValues } from '../../src/ir/host.js';
import { type IntExpr, int, ivar } from '../../src/ir/intexpr.js';
import { type Axis, type Expr, type Program, type TensorDecl, binary, iota, load, reduce } from '../../src/ir/tensor.js';
import { hoistReductions } from '../../src/passes/hoist-reductions.js';
import { evaluate } from '../../src/reference/evaluate.js';
import { firstMismatch, naiveEvaluate } from '../helpers/naive.js';

/**
 * The reference evaluates nested reductions itself (tabulating those that do not depend on every
 * index in scope) rather than through the compiler's hoisting. These programs hold two reductions
 * that differ only subtly — an axis size, where a bound or a free variable sits — which a wrong
 * normalization would merge into one. The reference must agree with the tree-walking interpreter,
 * and must tell each program from the one where the second reduction is replaced by the first
 * (what such a merge computes), so the compiler's hoisting can be checked against it.
 */
const ax = (name: string, size: number): Axis => ({ name, size: int(size) });
const decl = (name: string, ...axes: Axis[]): TensorDecl => ({ name, dtype: 'f32', axes });
const v = (n: string): IntExpr => ivar(n);
const sum = (axes: Axis[], body: Expr) => reduce('sum', axes, body);
const add = (a: Expr, b: Expr) => binary('add', a, b);
const sub = (a: Expr, b: Expr) => binary('sub', a, b);
const mul = (a: Expr, b: Expr) => binary('mul', a, b);
const at = (name: string) => iota(v(name), 'f32');

const X = decl('X', ax('r', 4), ax('c', 5));
const W = decl('W', ax('r', 4), ax('c', 5));
const A = decl('A', ax('r', 4), ax('c', 4));
const B = decl('B', ax('r', 4), ax('c', 4));

interface Case {
  readonly what: string;
  readonly target: TensorDecl;
  /** The statement's two reductions. */
  readonly first: Expr;
  readonly second: Expr;
  /** The statement, from its two reductions. */
  readonly stmt: (first: Expr, second: Expr) => Expr;
  /** Whether the two are the same function of their indices (then merging them is right). */
  readonly same?: boolean;
}

const CASES: Case[] = [
  {
    what: 'the same body over axes of different sizes',
    target: decl('Y', ax('i', 4), ax('j', 3)),
    first: sum([ax('k', 3)], load(X, [v('i'), v('k')])),
    second: sum([ax('k', 5)], load(X, [v('i'), v('k')])),
    stmt: (a, b) => add(sub(a, b), at('j')),
  },
  {
    what: 'a bound variable in another position (row sums and column sums inside a sum)',
    target: decl('Y', ax('i', 4), ax('j', 2)),
    first: sum([ax('k', 4)], mul(sum([ax('m', 4)], load(A, [v('k'), v('m')])), load(B, [v('i'), v('k')]))),
    second: sum([ax('k', 4)], mul(sum([ax('m', 4)], load(A, [v('m'), v('k')])), load(B, [v('i'), v('k')]))),
    stmt: (a, b) => add(sub(a, b), at('j')),
  },
  {
    what: 'free variables in swapped positions',
    target: decl('Y', ax('i', 4), ax('j', 4), ax('l', 2)),
    first: sum([ax('k', 5)], mul(load(X, [v('i'), v('k')]), load(W, [v('j'), v('k')]))),
    second: sum([ax('k', 5)], mul(load(X, [v('j'), v('k')]), load(W, [v('i'), v('k')]))),
    stmt: (a, b) => add(sub(a, b), at('l')),
  },
  {
    what: 'one reduction read at two different indices (one table, read in two places)',
    target: decl('Y', ax('i', 4), ax('j', 4)),
    first: sum([ax('k', 5)], load(X, [v('i'), v('k')])),
    second: sum([ax('k2', 5)], load(X, [v('j'), v('k2')])),
    stmt: (a, b) => sub(mul(a, at('j')), b),
    same: true,
  },
];

function programOf(c: Case, first: Expr, second: Expr): Program {
  return { name: 'two', sizes: [], inputs: [X, W, A, B], stmts: [{ target: c.target, expr: c.stmt(first, second) }], outputs: ['Y'], constraints: [] };
}

const inputs = Object.fromEntries([X, W, A, B].map((t, k) => [t.name, randomHost('f32', boundShape(t.axes), 11 + k)]));
const logical = Object.fromEntries(Object.entries(inputs).map(([k, h]) => [k, toValues(h)]));

describe('two reductions that differ subtly', () => {
  for (const c of CASES) {
    describe(c.what, () => {
      const p = programOf(c, c.first, c.second);
      const ref = evaluate(p, {}, inputs).values.Y!;

      it('the reference agrees with the tree-walking interpreter', () => {
        expect(firstMismatch(ref, naiveEvaluate(p, {}, logical).Y!, 1e-12, 1e-12)).toBe(-1);
      });

      if (!c.same) {
        it('is told from the program where one replaces the other', () => {
          const merged = evaluate(programOf(c, c.first, c.first), {}, inputs).values.Y!;
          expect(firstMismatch(merged, ref, 1e-6, 1e-6)).not.toBe(-1);
        });
      }

      it("checks the compiler's hoisting", () => {
        expect(firstMismatch(evaluate(hoistReductions(p), {}, inputs).values.Y!, ref)).toBe(-1);
      });
    });
  }
});

describe('reductions that depend on part of the indices are computed once per value', () => {
  it('a softmax over rows of 40000 takes linear time', () => {
    const D = 40_000;
    const p = program('softmax', (b) => {
      const x = b.input('X', 'f32', { i: 4, j: D });
      b.output('Y', softmax(x, 'j'));
    });
    const data = randomHost('f32', [4, D], 3);
    const timed = (d: number) => {
      const q = program('softmax', (b) => b.output('Y', softmax(b.input('X', 'f32', { i: 4, j: d }), 'j')));
      const input = randomHost('f32', [4, d], 3);
      let best = Infinity;
      for (let run = 0; run < 2; run++) {
        const t0 = performance.now();
        evaluate(q, {}, { X: input });
        best = Math.min(best, performance.now() - t0);
      }
      return best;
    };
    // a max and a sum per element would be 4 * D^2 steps each: four times the row, sixteen times
    // the time. A ratio, not a time, so that a slower machine is no reason to fail.
    timed(2_500);
    expect(timed(D) / timed(D / 4)).toBeLessThan(10);
    const y = evaluate(p, {}, { X: data }).values.Y!;
    const x = toValues(data);
    for (let i = 0; i < 4; i++) {
      let max = -Infinity;
      for (let j = 0; j < D; j++) max = Math.max(max, x[i * D + j]!);
      let s = 0;
      for (let j = 0; j < D; j++) s += Math.exp(x[i * D + j]! - Math.fround(max));
      const want = (j: number) => Math.fround(Math.exp(x[i * D + j]! - Math.fround(max)) / Math.fround(s));
      for (const j of [0, 1, D / 2, D - 1]) expect(y[i * D + j]).toBe(want(j));
    }
  });

  it('a reduction nested in a reduction that does not depend on the outer index is evaluated right', () => {
    // Y[i] = sum[j](X[i, j] * sum[k](X[k, j])): the inner sum depends on j alone
    const Xs = decl('X', ax('r', 3), ax('c', 4));
    const expr = sum([ax('j', 4)], mul(load(Xs, [v('i'), v('j')]), sum([ax('k', 3)], load(Xs, [v('k'), v('j')]))));
    const p: Program = { name: 'nest', sizes: [], inputs: [Xs], stmts: [{ target: decl('Y', ax('i', 3)), expr }], outputs: ['Y'], constraints: [] };
    const vals = Array.from({ length: 12 }, (_, k) => k + 1);
    const y = evaluate(p, {}, { X: fromValues('f32', [3, 4], vals) }).values.Y!;
    const col = (j: number) => vals[j]! + vals[4 + j]! + vals[8 + j]!;
    expect([...y]).toEqual([0, 1, 2].map((i) => [0, 1, 2, 3].reduce((s, j) => s + vals[i * 4 + j]! * col(j), 0)));
  });
});
