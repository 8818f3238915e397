import { describe, expect, it } from 'vitest';
import { program } from '../../src/dsl/program.js';
import { bindProgram } from '../../src/ir/bind.js';
import { randomHost } from '../../src/ir/host.js';
import { evaluateBound } from '../../src/reference/evaluate.js';
import { hoistReductions } from '../../src/passes/hoist-reductions.js';
import { inlineElementwise } from '../../src/passes/inline-elementwise.js';
import { firstMismatch } from '../helpers/naive.js';

/** Z = exp(X) feeds a fold over j whose step also holds a reduction; a consumer reads the fold. */
const p = program('f', (b) => {
  const [N, M, D] = b.sizes('N', 'M', 'D');
  const x = b.input('X', 'f32', { i: N, j: M });
  const w = b.input('W', 'f32', { j: M, d: D });
  const z = b.let('Z', x.exp());
  const { s } = b.fold({
    over: { j: M },
    state: { acc: { dtype: 'f32', init: 0 } },
    step: (st, local) => ({ acc: st.acc.add(local('r', z.mul(w).sum('d'))) }),
    merge: (u, v) => ({ acc: u.acc.add(v.acc) }),
    outputs: (st) => ({ s: st.acc }),
  });
  b.output('Y', s.mul(2));
});

describe('hoisting and inlining around a fold', () => {
  it('inline the elementwise producer into the fold, never the fold into its consumer', () => {
    const sizes = { N: 3, M: 4, D: 2 };
    const bound = bindProgram(hoistReductions(p), sizes);
    expect(bound.stmts.map((s) => s.target.name)).toEqual(['Z', 's', 'Y']);
    const inlined = inlineElementwise(bound);
    // Z is substituted into the fold's loads and dropped; s stays a statement Y loads
    expect(inlined.stmts.map((s) => s.target.name)).toEqual(['s', 'Y']);
    const fold = inlined.stmts[0]!.expr;
    expect(fold.op === 'fold' && fold.def.locals[0]!.expr.op).toBe('reduce');
    const inputs = { X: randomHost('f32', [3, 4], 1), W: randomHost('f32', [4, 2], 2) };
    const a = evaluateBound(bound, inputs).values.Y!;
    const b = evaluateBound(inlined, inputs).values.Y!;
    expect(firstMismatch(b, a, 1e-6)).toBe(-1);
  });
});
