import { describe, expect, it } from 'vitest';
import { program } from '../../src/dsl/program.js';
import { bindProgram } from '../../src/ir/bind.js';
import { int, ivar } from '../../src/ir/intexpr.js';
import { printProgram } from '../../src/ir/print.js';
import { type Program, type Stmt, binary, constant, load, unary } from '../../src/ir/tensor.js';
import { verifyProgram } from '../../src/ir/verify.js';
import { hoistReductions } from '../../src/passes/hoist-reductions.js';
import { INLINE_BUDGET, inlineElementwise, removeDead } from '../../src/passes/inline-elementwise.js';
import { firstMismatch, naiveEvaluate, randomProgram } from '../helpers/naive.js';

const prepare = (p: Program, sizes: Record<string, number> = {}) => bindProgram(hoistReductions(p), sizes);

describe('inlineElementwise', () => {
  it('substitutes an elementwise producer into a reduction and drops it', () => {
    const p = program('doc', (b) => {
      const x = b.input('X', 'f32', { i: 2, j: 3 });
      const z = b.let('Z', x.exp());
      b.output('S', z.sum('j'));
    });
    expect(printProgram(inlineElementwise(prepare(p)))).toMatchInlineSnapshot(`
      "program doc()
        in  X: f32[i: 2, j: 3]
        out S[i: 2]: f32 = sum[j': 3](exp(X[i, j']))"
    `);
  });

  it('keeps an exponential that a consumer would recompute across an axis it does not read', () => {
    // sum[d](exp(G[p, d]) * S[d, e]): inlined, each exp would be taken E times over
    const p = program('kept', (b) => {
      const g = b.input('G', 'f32', { p: 4, d: 8 });
      const s = b.input('S', 'f32', { d: 8, e: 16 });
      const w = b.let('W', g.exp());
      b.output('O', w.mul(s).sum('d'), ['p', 'e']);
      // read once per element it has: inlined as before
      b.output('R', w.mul(g).sum('d'));
    });
    const out = inlineElementwise(prepare(p));
    expect(out.stmts.map((x) => x.target.name)).toEqual(['W', 'O', 'R']);
    expect(printProgram(out)).toContain("R[p: 4]: f32 = sum[d'2: 8](exp(G[p, d'2]) * G[p, d'2])");
    // a cheap producer is inlined whatever the reuse
    const cheap = program('cheap', (b) => {
      const g = b.input('G', 'f32', { p: 4, d: 8 });
      const s = b.input('S', 'f32', { d: 8, e: 16 });
      b.output('O', b.let('W', g.mul(2)).mul(s).sum('d'), ['p', 'e']);
    });
    expect(inlineElementwise(prepare(cheap)).stmts.map((x) => x.target.name)).toEqual(['O']);
  });

  it('maps the producer axes to the consumer indices (transposed and shifted reads)', () => {
    const p = program('idx', (b) => {
      const x = b.input('X', 'f32', { i: 3, j: 4 });
      const t = b.let('T', x.mul(2));
      b.output('Y', t.permute('j', 'i').slice('j', 1, 3).add(t.at('i', 0).slice('j', 1, 3)));
    });
    const before = prepare(p);
    const after = inlineElementwise(before);
    expect(printProgram(after)).toMatchInlineSnapshot(`
      "program idx()
        in  X: f32[i: 3, j: 4]
        out Y[j: 2, i: 3]: f32 = X[i, j + 1] * 2 + X[0, j + 1] * 2"
    `);
    const x = Array.from({ length: 12 }, (_, k) => k - 5);
    expect([...naiveEvaluate(after, {}, { X: x }).Y!]).toEqual([...naiveEvaluate(before, {}, { X: x }).Y!]);
  });

  it('never inlines a reduction; it inlines elementwise chains into each other', () => {
    const p = program('chain', (b) => {
      const x = b.input('X', 'f32', { i: 2, j: 3 });
      const a = b.let('A', x.add(1));
      const c = b.let('C', a.mul(a));
      const m = b.let('M', c.max('j'));
      b.output('Y', c.sub(m));
    });
    const after = inlineElementwise(prepare(p));
    expect(after.stmts.map((s) => s.target.name)).toEqual(['M', 'Y']);
    expect(printProgram(after)).toContain("M[i: 2]: f32 = max[j': 3]((X[i, j'] + 1) * (X[i, j'] + 1))");
    expect(printProgram(after)).toContain('out Y[i: 2, j: 3]: f32 = (X[i, j] + 1) * (X[i, j] + 1) - M[i]');
  });

  it('keeps an output that is also read, and recomputes it where it is read', () => {
    const p = program('both', (b) => {
      const x = b.input('X', 'f32', { i: 2 });
      const e = b.output('E', x.exp());
      b.output('F', e.add(1));
    });
    const after = inlineElementwise(prepare(p));
    expect(printProgram(after)).toMatchInlineSnapshot(`
      "program both()
        in  X: f32[i: 2]
        out E[i: 2]: f32 = exp(X[i])
        out F[i: 2]: f32 = exp(X[i]) + 1"
    `);
  });

  it('respects the budget: nodes times uses', () => {
    const p = program('budget', (b) => {
      const x = b.input('X', 'f32', { i: 2 });
      const t = b.let('T', x.exp().sin().cos()); // 4 nodes
      b.let('U1', t.add(1));
      b.output('Y', t.mul(t).add(b.let('U2', t.neg())));
    });
    const bound = prepare(p);
    // T is read by U1, U2 and Y: 4 nodes * 3 uses = 12; then U2 (5 nodes, 1 use) goes into Y too
    expect(inlineElementwise(bound, 12).stmts.map((s) => s.target.name)).toEqual(['Y']);
    expect(inlineElementwise(bound, 11).stmts.map((s) => s.target.name)).toEqual(['T', 'Y']);
    expect(INLINE_BUDGET).toBeGreaterThan(12);
  });

  it('keeps the program valid and its values (random programs)', () => {
    for (let k = 0; k < 60; k++) {
      const rp = randomProgram(4242 + k * 17, { continuous: true });
      const bound = prepare(rp.program, rp.sizes);
      const after = inlineElementwise(bound);
      expect(() => verifyProgram(after)).not.toThrow();
      expect(after.outputs).toEqual(bound.outputs);
      for (const s of after.stmts) expect(s.target.name in naiveEvaluate(after, {}, rp.inputs)).toBe(true);
      const want = naiveEvaluate(bound, {}, rp.inputs);
      const got = naiveEvaluate(after, {}, rp.inputs);
      // inlining skips the f32 rounding of the intermediate it removes
      const [rtol, atol] = rp.dtype === 'f32' ? [1e-5, 1e-6] : [0, 0];
      for (const o of after.outputs) expect(firstMismatch(got[o]!, want[o]!, rtol, atol), `${o}: ${rp.ops.join(' ')}`).toBe(-1);
    }
  });
});

describe('removeDead', () => {
  const X = { name: 'X', dtype: 'f32' as const, axes: [{ name: 'i', size: int(2) }] };
  const decl = (name: string) => ({ name, dtype: 'f32' as const, axes: X.axes });
  const ld = (name: string) => load(decl(name), [ivar('i')]);
  const stmt = (name: string, expr: Stmt['expr']): Stmt => ({ target: decl(name), expr });
  const stmts = [
    stmt('A', unary('exp', load(X, [ivar('i')]))),
    stmt('B', binary('add', ld('A'), constant(1, 'f32'))),
    stmt('C', unary('neg', ld('A'))),
    stmt('D', binary('mul', ld('B'), ld('B'))),
  ];
  it('keeps outputs and what they read, in order', () => {
    expect(removeDead(stmts, ['D']).map((s) => s.target.name)).toEqual(['A', 'B', 'D']);
    expect(removeDead(stmts, ['C']).map((s) => s.target.name)).toEqual(['A', 'C']);
    expect(removeDead(stmts, ['C', 'D']).map((s) => s.target.name)).toEqual(['A', 'B', 'C', 'D']);
    expect(removeDead(stmts, [])).toEqual([]);
  });
});
