import { type BoundProgram } from '../ir/bind.js';
import { type IntExpr } from '../ir/intexpr.js';
import { type Stmt, countNodes, loadedTensors, mapExpr, substIndex } from '../ir/tensor.js';

/** Largest expression (in nodes, times its number of uses) inlined into its consumers. */
export const INLINE_BUDGET = 400;

/**
 * Fuses elementwise producers into their consumers by substitution:
 *
 *     Z[i, j] = exp(X[i, j]);  s[i] = sum[j'](Z[i, j'])   ->   s[i] = sum[j'](exp(X[i, j']))
 *
 * then drops statements nothing reads that are not outputs. Runs on the hoisted normal form, where
 * elementwise statements contain no reductions, so substitution cannot capture a variable. An
 * output that is also read is still stored, and recomputed where it is read.
 */
export function inlineElementwise(p: BoundProgram, budget = INLINE_BUDGET): BoundProgram {
  const uses = new Map<string, number>();
  for (const s of p.stmts) for (const t of loadedTensors(s.expr)) uses.set(t, (uses.get(t) ?? 0) + 1);
  const inlinable = new Map<string, Stmt>();
  const stmts: Stmt[] = [];
  for (const s of p.stmts) {
    const expr = mapExpr(s.expr, (e) => {
      if (e.op !== 'load') return e;
      const producer = inlinable.get(e.tensor);
      if (!producer) return e;
      const map: Record<string, IntExpr> = {};
      producer.target.axes.forEach((a, k) => (map[a.name] = e.index[k]!));
      return substIndex(producer.expr, map);
    });
    const next: Stmt = expr === s.expr ? s : { target: s.target, expr };
    stmts.push(next);
    // a fold owns a loop over its steps, so it is not an elementwise producer to substitute
    if (expr.op !== 'reduce' && expr.op !== 'fold' && countNodes(expr) * (uses.get(s.target.name) ?? 0) <= budget) {
      inlinable.set(s.target.name, next);
    }
  }
  return { ...p, stmts: removeDead(stmts, p.outputs) };
}

/** Keeps outputs and whatever they (transitively) read. */
export function removeDead(stmts: readonly Stmt[], outputs: readonly string[]): Stmt[] {
  const live = new Set(outputs);
  const kept: Stmt[] = [];
  for (let k = stmts.length - 1; k >= 0; k--) {
    const s = stmts[k]!;
    if (!live.has(s.target.name)) continue;
    kept.push(s);
    for (const t of loadedTensors(s.expr)) live.add(t);
  }
  return kept.reverse();
}

