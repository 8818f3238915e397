import { describe, expect, it } from 'vitest';
import { program } from '../../src/dsl/program.js';
import { ProgramError } from '../../src/ir/errors.js';
import { fromValues } from '../../src/ir/host.js';
import { ivar } from '../../src/ir/intexpr.js';
import { type Expr, type Program, binary, constant, load } from '../../src/ir/tensor.js';
import { MAX_EXPR_DEPTH } from '../../src/ir/verify.js';
import { lower } from '../../src/passes/pipeline.js';
import { evaluate } from '../../src/reference/evaluate.js';

const thrown = (f: () => unknown): unknown => {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
};

/** `Y = X * 1.0001 * 1.0001 ...`: one expression `depth` operations deep. */
const deepExpression = (depth: number) =>
  program('deep', (b) => {
    let t = b.input('X', 'f32', { i: b.size('N') });
    for (let k = 0; k < depth; k++) t = t.mul(1.0001);
    b.output('Y', t);
  });

/** `let t1 = t0 * 1.0001; let t2 = t1 * 1.0001; ...`: many shallow statements. */
const letChain = (n: number) =>
  program('chain', (b) => {
    let t = b.input('X', 'f32', { i: b.size('N') });
    for (let k = 0; k < n; k++) t = b.let(`t${k}`, t.mul(1.0001));
    b.output('Y', t);
  });

describe('deep programs', () => {
  it('refuses an expression deeper than the limit with a ProgramError, not a stack overflow', () => {
    const e = thrown(() => deepExpression(5000));
    expect(e).toBeInstanceOf(ProgramError);
    expect((e as Error).message).toMatch(/expression for Y .* nests 500\d operations deep; the limit is 1000/);
  });

  it('lower refuses a hand-built expression deeper than the limit before any pass recurses', () => {
    const X = { name: 'X', dtype: 'f32' as const, axes: [{ name: 'i', size: ivar('N') }] };
    let expr: Expr = load(X, [ivar('i')]);
    for (let k = 0; k < 5000; k++) expr = binary('mul', expr, constant(1.0001, 'f32'));
    const p: Program = { name: 'byhand', sizes: ['N'], inputs: [X], stmts: [{ target: { ...X, name: 'Y' }, expr }], outputs: ['Y'], constraints: [] };
    expect(thrown(() => lower(p, { N: 4 }))).toBeInstanceOf(ProgramError);
  });

  it('builds, evaluates and lowers an expression at the limit', () => {
    const p = deepExpression(MAX_EXPR_DEPTH - 1);
    const r = evaluate(p, { N: 2 }, { X: fromValues('f32', [2], [1, 2]) });
    expect(r.values.Y![1]).toBeCloseTo(2 * 1.0001 ** (MAX_EXPR_DEPTH - 1), 3);
    expect(lower(p, { N: 2 }).kernels.length).toBeGreaterThan(0);
  });

  it('lowers and evaluates 2,125 chained statements', () => {
    const p = letChain(2125);
    const r = evaluate(p, { N: 2 }, { X: fromValues('f32', [2], [1, 2]) });
    expect(r.values.Y![0]).toBeCloseTo(1.0001 ** 2125, 3);
    expect(lower(p, { N: 2 }).kernels.length).toBeGreaterThan(0);
  });
});
