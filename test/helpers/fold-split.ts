import { rng } from '../../src/ir/host.js';
import type { Program } from '../../src/ir/tensor.js';
import { type NaiveState, firstMismatch, forEachIndex, naiveEvaluate, naiveExprEvaluator, naiveFold, naiveInt } from './naive.js';

/**
 * The split-merge check: a fold's `merge` must give, from the states over steps [0, p) and
 * [p, n) (each run from `init`), the state over [0, n). For every fold statement of `p`, every
 * outer point and several split points (always 0 and n among them), it finalizes the merged
 * state and compares it with the straight fold's output; for a scan, at every step n. Returns
 * the failures, described (empty when the merge is right), and how many comparisons it made.
 */
export function checkFoldMerges(
  p: Program,
  sizes: Readonly<Record<string, number>>,
  inputs: Readonly<Record<string, ArrayLike<number>>>,
  options: { splits?: number; seed?: number; rtol?: number; atol?: number; maxOuter?: number } = {},
): { failures: string[]; checks: number } {
  const { splits = 3, seed = 1, rtol = 1e-9, atol = 1e-12, maxOuter = Infinity } = options;
  const values = naiveEvaluate(p, sizes, inputs);
  const decls = [...p.inputs, ...p.stmts.map((s) => s.target)];
  const evalExpr = naiveExprEvaluator(decls, { ...inputs, ...values }, sizes);
  const r = rng(seed);
  const failures: string[] = [];
  let checks = 0;
  for (const s of p.stmts) {
    const e = s.expr;
    if (e.op !== 'fold') continue;
    const d = e.def;
    const f = naiveFold(d, sizes, evalExpr);
    const outerShape = d.outer.map((a) => naiveInt(a.size, sizes, {}));
    let visited = 0;
    forEachIndex(outerShape, (idx) => {
      if (visited++ >= maxOuter) return;
      const vars: Record<string, number> = {};
      d.outer.forEach((a, k) => (vars[a.name] = idx[k]!));
      const at = (t: number) => {
        const v: Record<string, number> = { ...vars };
        d.over.forEach((a, k) => (v[a.name] = f.steps[t]![k]!));
        return v;
      };
      const run = (from: number, to: number): NaiveState => {
        let st = f.init(vars);
        for (let t = from; t < to; t++) st = f.step(st, at(t));
        return st;
      };
      // a fold is checked at its end; a scan after every step
      const ends = d.kind === 'scan' ? f.steps.map((_, t) => t + 1) : [f.steps.length];
      for (const n of ends) {
        const outVars = d.kind === 'scan' ? at(n - 1) : vars;
        const want = f.output(run(0, n), e.output, outVars);
        const points = new Set([0, n]);
        while (points.size < Math.min(n + 1, splits + 2)) points.add(Math.floor(r() * (n + 1)));
        for (const q of points) {
          const got = f.output(f.merge(run(0, q), run(q, n), vars), e.output, outVars);
          checks++;
          const bad = firstMismatch(got, want, rtol, atol);
          if (bad >= 0) {
            failures.push(
              `${s.target.name} at outer (${idx.join(', ')}), steps [0, ${q}) + [${q}, ${n}): element ${bad} merged ${got[bad]} but the fold gives ${want[bad]}`,
            );
          }
        }
      }
    });
  }
  return { failures, checks };
}
